"""Revoked sessions and tokens, checked in memory on every request.

A :class:`~jotgate.middleware.Verifier` asks its revocation source
``is_revoked(claims)`` on every request, cached tokens included, so the
answer must come from memory: a source keeps a local copy current in the
background (Redis pub/sub in :mod:`.redis_revocations`, HTTP polling in
:mod:`.polling`) and answers with two dict lookups.

The wire format every feed carries (see docs/middleware.md) is one JSON
object, or an array of them::

    {"sid": "5b2c...", "exp": 1767225600}     # deny the session's tokens until exp
    {"jti": "9f1e...", "exp": 1767225600}     # deny this one token until exp

``exp`` is the Unix time after which no token of that session (or that
token) can be valid anyway; entries are kept a little longer (``grace``,
covering verifier leeway) and then forgotten.

Example::

    revoked = RevocationList()
    revoked.apply(b'{"sid": "s-1", "exp": 1767225600}')
    revoked.is_revoked(claims)     # True for any token with sid "s-1"
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, runtime_checkable

from .claims import Claims

__all__ = ["RevocationList", "RevocationSource", "StartableRevocationSource"]

log = logging.getLogger("jotgate.middleware")

# Longest sid/jti accepted from a feed: ids are UUIDs or 32-byte tokens in
# practice, and a bound keeps a broken publisher from filling memory.
_MAX_ID_LENGTH: Final = 256
_PURGE_EVERY: Final = 30.0


@runtime_checkable
class RevocationSource(Protocol):
    """What a verifier consults: a cheap, synchronous, in-memory answer."""

    def is_revoked(self, claims: Claims) -> bool:
        """True when the token's session (``sid``) or id (``jti``) is revoked."""
        ...


@runtime_checkable
class StartableRevocationSource(RevocationSource, Protocol):
    """A source with a background feed, started and stopped with the app."""

    async def start(self) -> None:
        """Load the current revocations and begin following new ones."""
        ...

    async def stop(self) -> None:
        """Stop following; the last known revocations still answer."""
        ...


def _valid_id(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= _MAX_ID_LENGTH


class RevocationList:
    """Revoked sids and jtis in memory: the store every feed writes to.

    Usable on its own (for tests, or an app that learns of revocations some
    other way), and the base of the Redis and polling sources.
    ``grace`` seconds are added to each entry's ``exp`` before it is
    forgotten, so a verifier with leeway never outlives a revocation.

    Example::

        revoked = RevocationList()
        revoked.revoke(sid="s-1", until=time.time() + 900)
        verifier = Verifier(key, algorithms=["ES256"], revocations=revoked)
    """

    def __init__(self, *, grace: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        """An empty list; ``clock`` is injectable for tests."""
        self._sids: dict[str, float] = {}
        self._jtis: dict[str, float] = {}
        self._grace = grace
        self._clock = clock
        self._purged_at = clock()

    def is_revoked(self, claims: Claims) -> bool:
        """True when ``claims.sid`` or ``claims.jti`` is listed (two dict lookups)."""
        # Membership only: an entry outlives every token it could match, and
        # purge() drops it afterwards, so no clock read is needed here.
        sid = claims.sid
        if sid is not None and sid in self._sids:
            return True
        jti = claims.jti
        return jti is not None and jti in self._jtis

    def revoke(self, *, sid: str | None = None, jti: str | None = None, until: float) -> None:
        """Deny ``sid`` (a whole session) and/or ``jti`` (one token) until ``until``."""
        keep = until + self._grace
        # A later expiry wins: a session may be revoked twice (logout, then logout-all).
        if sid is not None and keep > self._sids.get(sid, 0.0):
            self._sids[sid] = keep
        if jti is not None and keep > self._jtis.get(jti, 0.0):
            self._jtis[jti] = keep
        if self._clock() - self._purged_at >= _PURGE_EVERY:
            self.purge()

    def apply(self, message: bytes | str | Mapping[str, Any] | list[Any]) -> int:
        """Apply one feed message (wire format above); return how many entries it added.

        Garbage is logged (without its content) and ignored: one bad
        publisher must not stop the feed.
        """
        if isinstance(message, bytes | str):
            try:
                message = json.loads(message)
            except ValueError:
                log.warning("ignored a revocation message that is not JSON")
                return 0
        entries = message if isinstance(message, list) else [message]
        added = 0
        for entry in entries:
            if self._apply_entry(entry):
                added += 1
            else:
                log.warning("ignored a malformed revocation entry")
        return added

    def _apply_entry(self, entry: object) -> bool:
        if not isinstance(entry, Mapping):
            return False
        sid, jti, exp = entry.get("sid"), entry.get("jti"), entry.get("exp")
        # bool is an int to Python but not a time; NaN would never compare.
        if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
            return False
        if sid is None and jti is None:
            return False
        for value in (sid, jti):
            if value is not None and not _valid_id(value):
                return False
        self.revoke(sid=sid, jti=jti, until=float(exp))
        return True

    def purge(self) -> None:
        """Forget entries whose tokens have all expired (plus grace)."""
        now = self._clock()
        self._purged_at = now
        # Rebuilt rather than deleted in place: readers on other threads never
        # see a dict that changes size under them.
        self._sids = {sid: t for sid, t in self._sids.items() if t > now}
        self._jtis = {jti: t for jti, t in self._jtis.items() if t > now}

    def __len__(self) -> int:
        return len(self._sids) + len(self._jtis)
