"""The one place a request's access token is judged: token, then everything it is bound to.

Order: the token (decrypted, signature, claims, denylist — :mod:`.tokens`),
then, for a token from the cookie, the CSRF header bound to its session
(:mod:`.transport`), then the cheap bindings (fingerprint cookie, address or user agent —
:mod:`.bindings`), then DPoP last (:mod:`.dpop_server`), so a proof's ``jti``
is spent only on a request that is otherwise good.

DPoP proofs name the request they sign: method and URL. For the server's
own routes those are this request's method and the issuer's origin plus its
path. For /auth/verify behind a proxy they are the *guarded* request's,
which only a trusted proxy (``TRUSTED_PROXIES``) can tell: ``X-Original-
Method``/``X-Forwarded-Method``, ``X-Original-URI``/``X-Forwarded-Uri``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (defaulting to the issuer's
scheme and host). From anyone else those headers are ignored.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from fastapi import Request

from .bindings import check_bindings
from .clientip import peer_is_trusted
from .dpop_server import DPOP_ALGORITHMS, bound_jkt, request_url
from .errors import ApiError, missing_token
from .runtime import Runtime
from .settings import Settings
from .tokens import AccessClaims
from .transport import access_token_from, check_csrf, client_info

__all__ = ["authenticate_request", "guarded_request"]

_MAX_URI: Final = 4096


def _first(request: Request, *names: str) -> str | None:
    for name in names:
        value = request.headers.get(name, "").split(",")[0].strip()
        if value:
            return value
    return None


def guarded_request(request: Request, settings: Settings) -> tuple[str, str]:
    """(method, URL) of the request a forward-auth check is about (see module docstring)."""
    own = (request.method, request_url(settings, request.url.path))
    peer = request.client.host if request.client else None
    if not peer_is_trusted(peer, settings.trusted_proxies):
        return own
    method = _first(request, "x-original-method", "x-forwarded-method") or request.method
    uri = _first(request, "x-original-uri", "x-forwarded-uri")
    if uri is None or not uri.startswith("/") or len(uri) > _MAX_URI:
        return method.upper(), own[1]
    issuer = urlsplit(settings.issuer)
    proto = _first(request, "x-forwarded-proto") or issuer.scheme
    host = _first(request, "x-forwarded-host") or issuer.netloc
    return method.upper(), f"{proto.lower()}://{host}{uri}"


def _bearer_for_bound_token() -> ApiError:
    algs = " ".join(DPOP_ALGORITHMS)
    message = "this token is bound to a DPoP key: send Authorization: DPoP <token> and a proof"
    return ApiError(
        401,
        "invalid_token",
        message,
        headers={"WWW-Authenticate": f'DPoP error="invalid_token", algs="{algs}"'},
    )


async def authenticate_request(
    request: Request,
    runtime: Runtime,
    *,
    forwarded: bool = False,
    csrf_method: str | None = None,
) -> AccessClaims:
    """The verified claims of the request's access token, or the :class:`ApiError` that says why.

    ``forwarded``: a forward-auth check (DPoP's method and URL are the
    guarded request's, from trusted proxies). ``csrf_method``: the method
    the cookie-mode CSRF check judges, when not this request's own.
    """
    settings = runtime.settings
    htm, htu = (
        guarded_request(request, settings)
        if forwarded
        else (request.method, request_url(settings, request.url.path))
    )
    presented = access_token_from(request, settings)
    if presented is None:
        raise missing_token()
    claims = await runtime.tokens.authenticate(presented.token)
    if presented.from_cookie:
        # Bound to the verified token's session: another session's value is no good.
        check_csrf(request, runtime.csrf_key, claims.sid, csrf_method)
    jkt = bound_jkt(claims.raw)
    if jkt is None and presented.scheme == "dpop":
        raise ApiError(
            401,
            "invalid_token",
            "the DPoP scheme is for DPoP-bound tokens; send this one as Bearer",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if jkt is not None and presented.scheme == "bearer":
        raise _bearer_for_bound_token()
    check_bindings(request, settings, claims.raw, client_info(request))
    if jkt is not None:
        await runtime.dpop.check_resource(request, token=presented.token, jkt=jkt, htm=htm, htu=htu)
    return claims
