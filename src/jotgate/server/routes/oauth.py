"""OAuth 2.0 endpoints: token (RFC 6749), introspection (RFC 7662), revocation (RFC 7009),
and the authorization server metadata (RFC 8414).

Errors here have OAuth's shape; see :mod:`jotgate.server.oauth`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..bindings import new_binding
from ..deps import RuntimeDep
from ..errors import ApiError
from ..introspection import describe, revoke
from ..oauth import (
    NO_STORE,
    OAuthError,
    authenticate_service,
    authenticated_client,
    form_body_schema,
    oauth_error_response,
    read_form,
    to_oauth_error,
)
from ..runtime import Runtime
from ..session_records import TokenPair
from ..transport import client_info

router = APIRouter(tags=["oauth"])

_STRING: dict[str, object] = {"type": "string"}
_OAUTH_ERROR = {
    "description": "RFC 6749 §5.2 error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": _STRING, "error_description": _STRING, "message": _STRING},
                "required": ["error", "error_description", "message"],
            }
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {400: _OAUTH_ERROR, 401: _OAUTH_ERROR}
_TOKEN_HINT: dict[str, object] = {"type": "string", "enum": ["access_token", "refresh_token"]}
_TOKEN_FORM = form_body_schema(
    {
        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
        "username": _STRING,
        "password": {"type": "string", "format": "password"},
        "refresh_token": _STRING,
        "scope": _STRING,
        "client_id": _STRING,
        "client_secret": {"type": "string", "format": "password"},
    },
    ["grant_type"],
)
_TOKEN_FORM_ONLY = form_body_schema({"token": _STRING, "token_type_hint": _TOKEN_HINT}, ["token"])


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise OAuthError("invalid_request", f"the {name} parameter is required")
    return value


def _token_json(pair: TokenPair, extra_headers: dict[str, str]) -> JSONResponse:
    body: dict[str, Any] = {
        "access_token": pair.access_token,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "refresh_expires_in": pair.refresh_expires_in,
    }
    if pair.roles:
        # RFC 6749 §5.1: the issued scope differs from any requested one, so say it.
        body["scope"] = " ".join(pair.roles)
    return JSONResponse(body, headers={**NO_STORE, **extra_headers})


async def _grant(request: Request, runtime: Runtime, form: dict[str, str]) -> TokenPair:
    grant_type = _required(form, "grant_type")
    client = client_info(request)
    if grant_type not in ("password", "refresh_token"):
        raise OAuthError("unsupported_grant_type", "grant_type must be password or refresh_token")
    jkt = await runtime.dpop.token_request_jkt(request)
    # OAuth clients keep no cookies: no fingerprint here, whatever the setting.
    binding = new_binding(runtime.settings, client, cookies=False, jkt=jkt)
    if grant_type == "password":
        username, password = _required(form, "username"), _required(form, "password")
        user = await runtime.logins.password_login(username, password, client=client)
        return await runtime.sessions.start(user, client=client, binding=binding)
    token = _required(form, "refresh_token")
    return await runtime.sessions.refresh(token, access_token=None, client=client, binding=binding)


@router.post("/auth/token", openapi_extra=_TOKEN_FORM, responses={**_ERRORS, 429: _OAUTH_ERROR})
async def token(request: Request, runtime: RuntimeDep) -> Response:
    """RFC 6749 token endpoint: ``grant_type=password`` or ``refresh_token``, form-encoded.

    Tokens always come back in the JSON body (whatever ``TOKEN_TRANSPORT``
    says): this endpoint is for OAuth clients. ``scope`` is accepted and
    ignored; the token carries the user's roles.
    """
    try:
        form = await read_form(request)
        authenticated_client(request, form, runtime.settings)
        return _token_json(await _grant(request, runtime, form), runtime.dpop.nonce_headers())
    except OAuthError as exc:
        return oauth_error_response(exc)
    except ApiError as exc:
        return oauth_error_response(to_oauth_error(exc))


@router.post(
    "/auth/introspect", openapi_extra=_TOKEN_FORM_ONLY, responses={**_ERRORS, 403: _OAUTH_ERROR}
)
async def introspect(request: Request, runtime: RuntimeDep) -> Response:
    """RFC 7662: is this token active, and whose is it?

    The caller authenticates: HTTP Basic with a client of
    ``INTROSPECTION_CLIENTS``, or a bearer access token with the
    ``introspect`` role.
    """
    try:
        form = await read_form(request)
        await authenticate_service(request, runtime, form)
        token = _required(form, "token")
        answer = await describe(runtime, token, form.get("token_type_hint"))
        return JSONResponse(answer, headers=NO_STORE)
    except OAuthError as exc:
        return oauth_error_response(exc)
    except ApiError as exc:
        return oauth_error_response(to_oauth_error(exc))


@router.post("/auth/revoke", openapi_extra=_TOKEN_FORM_ONLY, responses=_ERRORS)
async def revoke_token(request: Request, runtime: RuntimeDep) -> Response:
    """RFC 7009: revoke a token; its session ends. 200 even for unknown tokens.

    Holding the token is the authority to revoke it (public clients), so no
    client authentication is required; credentials that are sent must be right.
    """
    try:
        form = await read_form(request)
        authenticated_client(request, form, runtime.settings)
        token = _required(form, "token")
        await revoke(runtime, token, form.get("token_type_hint"), client_info(request))
        return Response(status_code=200, headers=NO_STORE)
    except OAuthError as exc:
        return oauth_error_response(exc)
    except ApiError as exc:
        return oauth_error_response(to_oauth_error(exc))


@router.get("/.well-known/oauth-authorization-server")
async def metadata(runtime: RuntimeDep) -> Response:
    """RFC 8414 authorization server metadata."""
    issuer = runtime.settings.issuer
    base = issuer.rstrip("/")
    client_auth = ["none", "client_secret_basic", "client_secret_post"]
    document = {
        "issuer": issuer,
        "token_endpoint": f"{base}/auth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/auth/revoke",
        "introspection_endpoint": f"{base}/auth/introspect",
        # No authorization endpoint: only the password and refresh grants.
        "response_types_supported": [],
        "grant_types_supported": ["password", "refresh_token"],
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "bearer",
        ],
        "service_documentation": f"{base}/docs",
    }
    return JSONResponse(
        document,
        headers={"Cache-Control": f"public, max-age={runtime.settings.jwks_max_age}"},
    )
