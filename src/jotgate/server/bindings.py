"""What an access token is bound to besides its session: fingerprint, address, user agent.

* **Fingerprint** (OWASP JWT cheat sheet, "token sidejacking"): at login a
  random value goes to the browser in a hardened cookie (HttpOnly, Secure,
  SameSite=Strict, ``__Host-`` prefix on https) and its SHA-256 into the
  access token as ``fgp``. A token lifted from storage or a log (XSS, a
  proxy) is useless without the cookie, which script cannot read. Refresh
  rotates the value.
* **Address or user agent** (``BIND_TOKENS``): the token carries ``bnd``, a
  hash of the client's address (``ip:``) or User-Agent (``ua:``) it was
  issued to, and is refused from any other. Hashed, so an unencrypted token
  does not reveal either.

Every comparison is constant-time. DPoP (``cnf.jkt``) lives in :mod:`.dpop_server`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request, Response

from .audit import ClientInfo
from .errors import ApiError, invalid_token
from .settings import Settings

__all__ = [
    "Binding",
    "check_bindings",
    "clear_fingerprint",
    "fingerprint_cookie",
    "new_fingerprint",
    "set_fingerprint",
]

#: On https the cookie gets the strictest prefix: host-only, path /, Secure.
SECURE_FINGERPRINT_COOKIE: Final = "__Host-Fgp"
#: Cookie prefixes need Secure, which needs https: plain http (development) gets this.
PLAIN_FINGERPRINT_COOKIE: Final = "jotgate_fgp"


def _digest(value: str) -> str:
    raw = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Binding:
    """Claims that bind a new access token: ``fgp``, ``bnd``, ``cnf``.

    ``fingerprint`` is the plaintext for the cookie (never in the token);
    ``jkt`` the DPoP key thumbprint.
    """

    fingerprint: str | None = None
    jkt: str | None = None
    bound_to: str | None = None

    def claims(self) -> dict[str, Any]:
        """The claims to add to the access token."""
        extra: dict[str, Any] = {}
        if self.fingerprint is not None:
            extra["fgp"] = _digest(self.fingerprint)
        if self.bound_to is not None:
            extra["bnd"] = _digest(self.bound_to)
        if self.jkt is not None:
            extra["cnf"] = {"jkt": self.jkt}
        return extra


def _bound_value(settings: Settings, client: ClientInfo) -> str | None:
    if settings.bind_tokens == "ip":
        return "ip:" + (client.ip or "")
    if settings.bind_tokens == "user-agent":
        return "ua:" + (client.user_agent or "")
    return None


def new_binding(
    settings: Settings, client: ClientInfo, *, cookies: bool, jkt: str | None = None
) -> Binding:
    """The binding for tokens issued now to ``client``.

    ``cookies``: whether the response may set the fingerprint cookie
    (never for the OAuth token endpoint, whose clients keep no cookies).
    """
    return Binding(
        fingerprint=new_fingerprint() if cookies and settings.fingerprint_on else None,
        jkt=jkt,
        bound_to=_bound_value(settings, client),
    )


def new_fingerprint() -> str:
    """256 random bits for the fingerprint cookie."""
    return secrets.token_urlsafe(32)


def fingerprint_cookie(settings: Settings) -> str:
    """The cookie's name: ``__Host-Fgp`` on https, else a plain name (prefixes need Secure)."""
    secure = settings.issuer.startswith("https://")
    return SECURE_FINGERPRINT_COOKIE if secure else PLAIN_FINGERPRINT_COOKIE


def set_fingerprint(response: Response, settings: Settings, fingerprint: str, max_age: int) -> None:
    """Send the fingerprint: HttpOnly (script never sees it), SameSite=Strict, path /."""
    response.set_cookie(
        fingerprint_cookie(settings),
        fingerprint,
        max_age=max_age,
        httponly=True,
        secure=settings.issuer.startswith("https://"),
        samesite="strict",
        path="/",
    )


def clear_fingerprint(response: Response, settings: Settings) -> None:
    """Remove the fingerprint cookie (logout)."""
    response.delete_cookie(fingerprint_cookie(settings), path="/")


def _refused(what: str) -> ApiError:
    return invalid_token("invalid_token", what)


def check_bindings(
    request: Request, settings: Settings, claims: dict[str, Any], client: ClientInfo
) -> None:
    """401 ``invalid_token`` unless the request carries what the token is bound to."""
    fgp = claims.get("fgp")
    if fgp is not None:
        cookie = request.cookies.get(fingerprint_cookie(settings))
        # Both sides are compared even without a cookie: timing says nothing.
        expected = fgp if isinstance(fgp, str) else ""
        if not _same(_digest(cookie or ""), expected) or not cookie:
            raise _refused("the token's fingerprint cookie is missing or does not match")
    bnd = claims.get("bnd")
    if bnd is not None:
        value = _bound_value(settings, client)
        if value is None:
            # Binding was switched off after this token was issued; the claim
            # cannot be checked against anything, so the token stays good.
            return
        if not isinstance(bnd, str) or not _same(_digest(value), bnd):
            what = "address" if settings.bind_tokens == "ip" else "user agent"
            raise _refused(f"this token was issued to another client {what}")
