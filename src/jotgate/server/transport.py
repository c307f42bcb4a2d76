"""How tokens travel: the Authorization header and JSON bodies, or HttpOnly cookies.

``TOKEN_TRANSPORT`` picks ``body`` (JSON only), ``cookie`` (cookies only) or
``both``. Requests authenticated by cookie that change state must carry the
double-submit CSRF header (``X-CSRF-Token`` equal to the ``jotgate_csrf``
cookie), because browsers attach cookies to cross-site requests by themselves.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from fastapi import Request, Response

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
    "clear_cookies",
    "client_info",
    "refresh_token_from",
    "token_response",
]

ACCESS_COOKIE: Final = "jotgate_access"
REFRESH_COOKIE: Final = "jotgate_refresh"
CSRF_COOKIE: Final = "jotgate_csrf"
CSRF_HEADER: Final = "x-csrf-token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_TOKEN_CHARS: Final = 8192


@dataclass(frozen=True)
class Presented:
    """A token the client sent, whether it came in a cookie, and its scheme.

    ``scheme`` is ``"bearer"``, ``"dpop"`` (``Authorization: DPoP``, RFC 9449
    §7.1) or ``"cookie"``.
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


def _check_csrf(request: Request, method: str | None = None) -> None:
    if (method or request.method) in _SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise ApiError(403, "csrf_failed", f"send the {CSRF_COOKIE} cookie's value in X-CSRF-Token")


def access_token_from(
    request: Request, settings: Settings, *, method: str | None = None
) -> Presented | None:
    """The token from ``Authorization`` (Bearer or DPoP), else (cookie mode) the access cookie.

    ``method`` is the method the CSRF check judges when it is not this
    request's own (forward-auth checks on behalf of a proxied request).
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
            _check_csrf(request, method)
            return Presented(cookie, from_cookie=True, scheme="cookie")
    return None


def refresh_token_from(request: Request, settings: Settings, body_token: str | None) -> str | None:
    """The refresh token from the JSON body, else (cookie mode) the refresh cookie."""
    if body_token:
        return body_token
    if _uses_cookies(settings):
        cookie = request.cookies.get(REFRESH_COOKIE)
        if cookie:
            _check_csrf(request)
            return cookie
    return None


def token_response(pair: TokenPair, response: Response, settings: Settings) -> TokenResponse:
    """Put the pair where the transport says: JSON body, cookies, or both."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if pair.fingerprint is not None:
        # Lives as long as the refresh token: each refresh sends a new one.
        set_fingerprint(response, settings, pair.fingerprint, pair.refresh_expires_in)
    if _uses_cookies(settings):
        secure = settings.issuer.startswith("https://")
        response.set_cookie(
            ACCESS_COOKIE,
            pair.access_token,
            max_age=pair.expires_in,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
        )
        response.set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token,
            max_age=pair.refresh_expires_in,
            httponly=True,
            secure=secure,
            samesite="strict",
            path="/auth",
        )
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(24),
            max_age=pair.refresh_expires_in,
            httponly=False,  # the page's script must read it to echo it in the header
            secure=secure,
            samesite="strict",
            path="/",
        )
    in_body = settings.token_transport in ("body", "both")
    return TokenResponse(
        access_token=pair.access_token if in_body else None,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token if in_body else None,
        refresh_expires_in=pair.refresh_expires_in,
    )


def clear_cookies(response: Response, settings: Settings) -> None:
    """Remove the token cookies and the fingerprint (logout)."""
    if settings.fingerprint_on:
        clear_fingerprint(response, settings)
    if not _uses_cookies(settings):
        return
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path="/auth")
    response.delete_cookie(CSRF_COOKIE, path="/")
