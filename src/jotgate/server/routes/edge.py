"""Forward-auth for edge proxies: nginx ``auth_request``, Traefik ForwardAuth, Envoy ext_authz.

The contract those proxies share: 200 with identity headers lets the request
through, 401 (with ``WWW-Authenticate``) or 403 refuses it, and anything else
is a proxy failure (nginx turns it into a 500). So this endpoint answers only
those three, whatever ``EXPIRED_STATUS`` says for the server's own routes: an
expired token is a 401 here, named by ``X-Auth-Error: token_expired`` and the
JSON body. It accepts every method and any path below ``/auth/verify``,
because Envoy's HTTP ext_authz forwards the client's method and appends the
client's path.

It is served by plain Starlette routes (:func:`plain_routes`, placed first in
the app's routing table): FastAPI's per-request dependency and validation
machinery alone cost about a quarter of a trivial route's throughput, and
this is the hottest endpoint. The FastAPI route below declares the same
endpoint for the OpenAPI document (GET, the ``role`` query parameter, the
security scheme) and answers exactly like the plain one, but the plain
route matches first.

In cookie mode the CSRF check is about the request the proxy is guarding,
not this check request (nginx and Traefik always check with GET): the
original method comes from ``X-Original-Method`` (nginx) or
``X-Forwarded-Method`` (Traefik). A browser cannot add either header to a
cross-site request, and the proxies overwrite them, so they need no trust.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request, Response, Security
from starlette.routing import BaseRoute, Route

from ... import _b64
from ..deps import RuntimeDep, oauth2_scheme
from ..errors import ApiError, error_response
from ..request_auth import authenticate_request
from ..runtime import Runtime
from ..schemas import ErrorBody
from ..tokens import AccessClaims, require_role

router = APIRouter(tags=["edge"])

_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MAX_ROLE: Final = 64
#: Identity headers of recently verified tokens, by ``jti``, reused while the claims
#: are the very same object (a hit of the verified-token cache).
_IDENTITY_CACHE_LIMIT: Final = 10_000
_identities: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
}


def _original_method(request: Request) -> str:
    for name in ("x-original-method", "x-forwarded-method"):
        value = request.headers.get(name, "").strip().upper()
        if value.isalpha() and len(value) <= 16:
            return value
    return request.method


def _identity(claims: AccessClaims) -> dict[str, str]:
    known = _identities.get(claims.jti)
    if known is not None and known[0] is claims.raw:
        return dict(known[1])
    headers = _identity_of(claims)
    if len(_identities) >= _IDENTITY_CACHE_LIMIT:
        _identities.clear()
    _identities[claims.jti] = (claims.raw, headers)
    return dict(headers)


def _identity_of(claims: AccessClaims) -> dict[str, str]:
    scope = claims.raw.get("scope")
    scopes = scope.split() if isinstance(scope, str) else []
    encoded = _b64.encode_str(json.dumps(claims.raw, separators=(",", ":")).encode())
    return {
        "X-User-Id": claims.sub,
        "X-Session-Id": claims.sid,
        "X-User-Roles": ",".join(claims.roles),
        "X-User-Scopes": " ".join(scopes),  # as in the scope claim: a scope may hold a comma
        "X-Auth-Claims": encoded,
        "Cache-Control": "no-store",
    }


async def _verify(request: Request, runtime: Runtime, role: str | None) -> Response:
    try:
        claims = await authenticate_request(
            request, runtime, forwarded=True, csrf_method=_original_method(request)
        )
        if role is not None:
            require_role(claims, role)
    except ApiError as exc:
        status = exc.status if exc.status in (401, 403) else 401
        headers = {**exc.headers, "X-Auth-Error": exc.code}
        if status == 401 and "WWW-Authenticate" not in headers:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return error_response(status, exc.code, exc.message, headers)
    return Response(status_code=200, headers=_identity(claims))


async def verify_endpoint(request: Request) -> Response:
    """The plain Starlette endpoint behind every method of /auth/verify[/...]."""
    role = request.query_params.get("role")
    if role is not None and len(role) > _MAX_ROLE:
        return error_response(422, "invalid_request", f"query.role: at most {_MAX_ROLE} characters")
    runtime: Runtime = request.app.state.runtime
    return await _verify(request, runtime, role)


def plain_routes() -> list[BaseRoute]:
    """/auth/verify and /auth/verify/{rest:path}, every method; mount before the API routes."""
    return [
        Route("/auth/verify", verify_endpoint, methods=_METHODS, include_in_schema=False),
        Route(
            "/auth/verify/{rest:path}", verify_endpoint, methods=_METHODS, include_in_schema=False
        ),
    ]


# The OpenAPI declaration (GET only: one operation per method would repeat one
# operation id). Requests reach verify_endpoint first; this twin answers the same
# way should it ever be reached (e.g. an app that mounts only the router).
@router.get("/auth/verify", status_code=200, responses=_RESPONSES)
async def verify(
    request: Request,
    runtime: RuntimeDep,
    role: Annotated[str | None, Query(max_length=_MAX_ROLE)] = None,
    _declared: Annotated[str | None, Security(oauth2_scheme)] = None,
) -> Response:
    """200 with identity headers for a valid, unrevoked access token; else 401/403.

    Every method is accepted, and any path below ``/auth/verify``.
    The proxy copies ``X-User-Id``, ``X-Session-Id``, ``X-User-Roles``,
    ``X-User-Scopes`` and ``X-Auth-Claims`` (base64url JSON of the claims)
    to the upstream request, after stripping any the client sent itself.
    Bound tokens are checked as on the server's own routes: the fingerprint
    cookie, the client address or user agent, and for DPoP a proof of the
    guarded request (method and URL from trusted proxies' headers).
    """
    return await _verify(request, runtime, role)
