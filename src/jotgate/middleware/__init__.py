"""Token verification for apps: one :class:`Verifier`, many doors.

* :class:`Verifier` — signature, claims, revocation and a cache of verified
  tokens, encrypted (nested JWT) tokens, DPoP-bound ones and ones bound to
  a fingerprint cookie, address or user agent (``fgp``/``bnd``);
  ``verify(token, request=RequestContext(...))`` (sync) and ``averify`` (async).
* :class:`AuthMiddleware` — pure ASGI (Starlette, FastAPI, Litestar).
* :mod:`jotgate.middleware.fastapi` — ``require_token(roles=, scopes=)`` dependencies.
* :class:`WSGIAuthMiddleware`, :mod:`jotgate.middleware.flask`,
  :mod:`jotgate.middleware.django` — WSGI apps and view decorators.
* :class:`RevocationList`, ``RedisRevocations``, ``PollingRevocations`` —
  revoked sessions kept in memory by a background feed.

Framework modules import their framework, so they are imported by name,
never from here. ``RedisRevocations`` (needs ``redis``) and
``PollingRevocations`` (needs ``httpx``) load on first use.

Example::

    from jotgate.middleware import AuthMiddleware, Verifier

    verifier = Verifier(key, algorithms=["ES256"], issuer=ISSUER, audience="notes-api")
    app.add_middleware(AuthMiddleware, verifier=verifier)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .asgi import CLAIMS_KEY, AuthMiddleware, claims_from_scope
from .background import start_in_thread
from .binding import DPoPRequest
from .claims import Claims
from .context import RequestContext
from .errors import (
    AuthError,
    ClientBindingError,
    DPoPUnavailableError,
    TokenBindingError,
    TokenRevokedError,
)
from .revocation import RevocationList, RevocationSource
from .verifier import Verifier
from .wsgi import WSGIAuthMiddleware

if TYPE_CHECKING:
    from .polling import PollingRevocations
    from .redis_revocations import RedisRevocations

__all__ = [
    "CLAIMS_KEY",
    "AuthError",
    "AuthMiddleware",
    "Claims",
    "ClientBindingError",
    "DPoPRequest",
    "DPoPUnavailableError",
    "PollingRevocations",
    "RedisRevocations",
    "RequestContext",
    "RevocationList",
    "RevocationSource",
    "TokenBindingError",
    "TokenRevokedError",
    "Verifier",
    "WSGIAuthMiddleware",
    "claims_from_scope",
    "start_in_thread",
]


def __getattr__(name: str) -> Any:
    # Optional dependencies load only when their class is asked for.
    if name == "RedisRevocations":
        from .redis_revocations import RedisRevocations

        return RedisRevocations
    if name == "PollingRevocations":
        from .polling import PollingRevocations

        return PollingRevocations
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
