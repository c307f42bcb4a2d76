"""Fingerprint cookie and address/user-agent binding at the verifier: the server's rules.

The auth server may bind an access token to the client it was issued to
(docs/server.md, "Token bindings"):

* ``fgp``: base64url(SHA-256(value)) of a random value it sent in an
  HttpOnly cookie (``__Host-Fgp`` on https, ``jotgate_fgp`` on plain http).
  A token lifted from storage, a log or a proxy is useless without that
  cookie, which script cannot read (OWASP "token sidejacking").
* ``bnd``: base64url(SHA-256(``"ip:" + address``)) or
  (``"ua:" + User-Agent``) of the client it was issued to.

A verifier checks both on every request, cache hit or not, against the
request's :class:`~jotgate.middleware.context.RequestContext`; every
comparison is constant-time. ``bnd`` does not say which kind it is: the
address and the user agent are both tried (their prefixes differ, so one can
never pass for the other). A bound token verified without a request context
is refused: the check fails closed.

Failures raise :class:`~jotgate.middleware.errors.ClientBindingError` (401
``invalid_token``, "bound to another client").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection
from typing import Any, Final

from .context import RequestContext
from .errors import ClientBindingError

__all__ = ["FINGERPRINT_COOKIES", "ClientBindingPolicy", "bound_claims", "digest"]

#: The auth server's fingerprint cookie names: on https, then on plain http.
FINGERPRINT_COOKIES: Final = ("__Host-Fgp", "jotgate_fgp")


def digest(value: str) -> str:
    """base64url (unpadded) SHA-256 of ``value``'s UTF-8: how ``fgp`` and ``bnd`` are made."""
    raw = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def bound_claims(raw: dict[str, Any]) -> tuple[Any, Any] | None:
    """``(fgp, bnd)`` of a claim set that has either, else None (most tokens: no check)."""
    fgp, bnd = raw.get("fgp"), raw.get("bnd")
    if fgp is None and bnd is None:
        return None
    return fgp, bnd


class ClientBindingPolicy:
    """Checks ``fgp``/``bnd`` against a request. ``cookies``: fingerprint cookie names."""

    def __init__(self, cookies: Collection[str] = FINGERPRINT_COOKIES) -> None:
        """A policy reading the fingerprint from any of ``cookies``."""
        if isinstance(cookies, str) or not cookies:
            raise ValueError("fingerprint_cookies must be a non-empty list of cookie names")
        self.cookies = tuple(cookies)

    def check(self, bound: tuple[Any, Any], request: RequestContext | None) -> None:
        """Raise :class:`ClientBindingError` unless ``request`` has what the token is bound to."""
        fgp, bnd = bound
        if request is None:
            raise ClientBindingError(
                "the access token is bound to its client, and no request was given to check it"
            )
        if fgp is not None and not self._fingerprint_matches(fgp, request):
            raise ClientBindingError(
                "the access token is bound to another client: "
                "its fingerprint cookie is missing or does not match"
            )
        if bnd is not None and not _client_matches(bnd, request):
            raise ClientBindingError(
                "the access token is bound to another client: "
                "it was issued to another address or user agent"
            )

    def _fingerprint_matches(self, fgp: Any, request: RequestContext) -> bool:
        expected = fgp if isinstance(fgp, str) else ""
        matched = False
        for name in self.cookies:
            for value in request.cookie_values(name):
                # No early exit: every candidate costs the same.
                matched |= bool(value) and _same(digest(value), expected)
        return matched and bool(expected)


def _client_matches(bnd: Any, request: RequestContext) -> bool:
    if not isinstance(bnd, str) or not bnd:
        return False
    by_address = _same(digest("ip:" + (request.client_ip or "")), bnd)
    by_agent = _same(digest("ua:" + (request.user_agent or "")), bnd)
    return by_address | by_agent
