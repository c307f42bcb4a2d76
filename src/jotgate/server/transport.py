"""How tokens travel: the Authorization header and JSON bodies, or HttpOnly cookies.

``TOKEN_TRANSPORT`` picks ``body`` (JSON only), ``cookie`` (cookies only) or
``both``. Every cookie is ``Secure`` (browsers keep and send Secure cookies on
http://localhost, a secure context, so development works without TLS) and
``SameSite=Strict``:

* ``jotgate_access`` (HttpOnly, ``Path=/``): the access token. It lives as
  long as the refresh token, not the access token, so the browser keeps
  presenting it after it expired: protected routes then answer
  ``token_expired`` (time to refresh) and logout still finds the session.
* ``jotgate_refresh`` (HttpOnly, ``Path=/auth/refresh``): only the refresh
  endpoint ever receives it; logout identifies the session by the access
  cookie, which it accepts expired.
* ``jotgate_csrf`` (readable by script, ``Path=/``): base64url(HMAC-SHA256(k,
  session id)), with ``k`` a server secret. A request authenticated by cookie
  that changes state must echo it in ``X-CSRF-Token``; the header is checked
  against the session of the verified token (or, at /auth/refresh, the
  session the refresh token belongs to), in constant time. Another session's
  value, a forged one or none at all is 403 ``csrf_failed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from .audit import ClientInfo
from .bindings import clear_fingerprint, set_fingerprint
from .clientip import client_ip
from .errors import ApiError, invalid_token
from .schemas import TokenResponse
from .sessions import TokenPair
from .settings import Settings

__all__ = [
    "ACCESS_COOKIE",
    "CSRF_COOKIE",
    "REFRESH_COOKIE",
    "Presented",
    "access_token_from",
    "check_csrf",
    "clear_cookies",
    "client_info",
    "csrf_value",
    "refresh_token_from",
    "token_body",
    "token_json_response",
    "token_response",
]

ACCESS_COOKIE: Final = "jotgate_access"
REFRESH_COOKIE: Final = "jotgate_refresh"
CSRF_COOKIE: Final = "jotgate_csrf"
CSRF_HEADER: Final = "x-csrf-token"
#: The refresh cookie goes to the refresh endpoint only.
REFRESH_PATH: Final = "/auth/refresh"
#: Where releases before the refresh path scoping put it (cleared when seen).
_LEGACY_REFRESH_PATH: Final = "/auth"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_TOKEN_CHARS: Final = 8192


@dataclass(frozen=True)
class Presented:
    """A token the client sent, whether it came in a cookie, and its scheme.

    ``scheme`` is ``"bearer"``, ``"dpop"`` (``Authorization: DPoP``, RFC 9449
    §7.1), ``"cookie"`` or (refresh tokens) ``"body"``.
    """

    token: str
    from_cookie: bool
    scheme: str = "bearer"


def client_info(request: Request) -> ClientInfo:
    """The caller's address (see :mod:`.clientip` for proxies) and user agent."""
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)
    return ClientInfo(ip=ip, user_agent=request.headers.get("user-agent"))


def _uses_cookies(settings: Settings) -> bool:
    return settings.token_transport in ("cookie", "both")


def csrf_value(key: bytes, session_id: str) -> str:
    """The CSRF value of a session: base64url(HMAC-SHA256(key, session id))."""
    mac = hmac.new(key, session_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def check_csrf(request: Request, key: bytes, session_id: str, method: str | None = None) -> None:
    """403 ``csrf_failed`` unless a safe method, or ``X-CSRF-Token`` is the session's value.

    ``method`` is the method judged when it is not this request's own
    (forward-auth checks on behalf of a proxied request).
    """
    if (method or request.method).upper() in _SAFE_METHODS:
        return
    header = request.headers.get(CSRF_HEADER, "")
    expected = csrf_value(key, session_id)
    # Compared even when the header is missing or too long: timing says nothing.
    sent = header.encode("utf-8", "surrogateescape")[:128]
    if not hmac.compare_digest(sent, expected.encode()) or not header:
        raise ApiError(
            403,
            "csrf_failed",
            f"send this session's {CSRF_COOKIE} cookie value in X-CSRF-Token",
        )


def access_token_from(request: Request, settings: Settings) -> Presented | None:
    """The token from ``Authorization`` (Bearer or DPoP), else (cookie mode) the access cookie.

    A cookie token comes back with ``from_cookie``: the caller checks CSRF
    (:func:`check_csrf`) once it knows the token's session.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() not in ("bearer", "dpop") or not value:
            raise invalid_token("invalid_token", "use Authorization: Bearer <access token>")
        if len(value) > _MAX_TOKEN_CHARS:
            raise invalid_token("invalid_token", "the access token is too long")
        return Presented(value, from_cookie=False, scheme=scheme.lower())
    if _uses_cookies(settings):
        cookie = request.cookies.get(ACCESS_COOKIE)
        if cookie:
            if len(cookie) > _MAX_TOKEN_CHARS:
                raise invalid_token("invalid_token", "the access token is too long")
            return Presented(cookie, from_cookie=True, scheme="cookie")
    return None


def refresh_token_from(
    request: Request, settings: Settings, body_token: str | None
) -> Presented | None:
    """The refresh token from the JSON body, else (cookie mode) the refresh cookie.

    A cookie token comes back with ``from_cookie``: the caller checks CSRF
    against the session the token belongs to.
    """
    if body_token:
        return Presented(body_token, from_cookie=False, scheme="body")
    if _uses_cookies(settings):
        cookie = request.cookies.get(REFRESH_COOKIE)
        if cookie:
            if len(cookie) > _MAX_TOKEN_CHARS:
                raise ApiError(401, "invalid_refresh_token", "this refresh token is not valid")
            return Presented(cookie, from_cookie=True, scheme="cookie")
    return None


def token_response(
    pair: TokenPair, response: Response, settings: Settings, csrf_key: bytes
) -> TokenResponse:
    """Put the pair where the transport says: JSON body, cookies, or both.

    Cookies (see the module docstring) all live as long as the refresh token.
    """
    _attach(pair, response, settings, csrf_key)
    return TokenResponse.model_validate(token_body(pair, settings))


def token_json_response(
    pair: TokenPair,
    settings: Settings,
    csrf_key: bytes,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The same answer as :func:`token_response` as a finished response, for plain routes.

    Byte for byte what FastAPI writes for a route returning
    :func:`token_response`'s model: the same JSON (fields in the model's
    order, nulls kept), headers and cookies.
    """
    response = JSONResponse(token_body(pair, settings), headers=headers)
    _attach(pair, response, settings, csrf_key)
    return response


def token_body(pair: TokenPair, settings: Settings) -> dict[str, str | int | None]:
    """The token response's fields (:class:`TokenResponse`), tokens left out per transport."""
    in_body = settings.token_transport in ("body", "both")
    return {
        "access_token": pair.access_token if in_body else None,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token if in_body else None,
        "refresh_expires_in": pair.refresh_expires_in,
    }


def _attach(pair: TokenPair, response: Response, settings: Settings, csrf_key: bytes) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if pair.fingerprint is not None:
        # Lives as long as the refresh token: each refresh sends a new one.
        set_fingerprint(response, settings, pair.fingerprint, pair.refresh_expires_in)
    if not _uses_cookies(settings):
        return
    lifetime = pair.refresh_expires_in
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=lifetime,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=lifetime,
        httponly=True,
        secure=True,
        samesite="strict",
        path=REFRESH_PATH,
    )
    _delete(response, REFRESH_COOKIE, _LEGACY_REFRESH_PATH, httponly=True)
    response.set_cookie(
        CSRF_COOKIE,
        csrf_value(csrf_key, pair.session_id),
        max_age=lifetime,
        httponly=False,  # the page's script must read it to echo it in the header
        secure=True,
        samesite="strict",
        path="/",
    )


def _delete(response: Response, name: str, path: str, *, httponly: bool) -> None:
    # Same attributes as when set: browsers replace a cookie only by name, domain and path.
    response.delete_cookie(name, path=path, secure=True, httponly=httponly, samesite="strict")


def clear_cookies(response: Response, settings: Settings) -> None:
    """Remove the token cookies and the fingerprint (logout)."""
    if settings.fingerprint_on:
        clear_fingerprint(response, settings)
    if not _uses_cookies(settings):
        return
    _delete(response, ACCESS_COOKIE, "/", httponly=True)
    _delete(response, REFRESH_COOKIE, REFRESH_PATH, httponly=True)
    _delete(response, REFRESH_COOKIE, _LEGACY_REFRESH_PATH, httponly=True)
    _delete(response, CSRF_COOKIE, "/", httponly=False)
