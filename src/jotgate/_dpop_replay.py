"""Replay caches for DPoP proof ``jti`` values (RFC 9449 §11.1).

A verifier remembers each accepted proof's ``jti`` for as long as the proof
could still be accepted, and refuses a second proof with the same one. The
contract is one atomic call, so two workers racing on one proof cannot both
win:

``check_and_store(key, expires_at) -> bool``
    True when ``key`` was not stored (it is stored now, until at least
    ``expires_at``, epoch seconds); False when it already was (a replay).

``acheck_and_store`` is the same for code on an event loop. The library
ships an in-process cache and Redis ones; a database-backed cache only needs
an INSERT that fails on a duplicate key (see docs/library.md).

Example::

    cache = MemoryReplayCache(max_entries=100_000)
    assert cache.check_and_store("jkt:jti-1", time.time() + 65) is True
    assert cache.check_and_store("jkt:jti-1", time.time() + 65) is False
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = [
    "AsyncRedisReplayCache",
    "AsyncReplayCache",
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "ReplayCacheFullError",
]

Clock = Callable[[], float]


class ReplayCache(Protocol):
    """What :func:`jotgate.dpop.verify_proof` needs to refuse replayed proofs."""

    def check_and_store(self, key: str, expires_at: float) -> bool:
        """Atomically: True and remember ``key`` until ``expires_at`` if new, else False."""
        ...


class AsyncReplayCache(Protocol):
    """What :func:`jotgate.dpop.averify_proof` needs: the same contract, awaitable."""

    async def acheck_and_store(self, key: str, expires_at: float) -> bool:
        """Atomically: True and remember ``key`` until ``expires_at`` if new, else False."""
        ...


class ReplayCacheFullError(Exception):
    """A :class:`MemoryReplayCache` holds ``max_entries`` live keys and cannot take more.

    Not a :class:`~jotgate.errors.JoseError`: the proof may be fine, the
    server is out of room. Answer 503; the cache empties as proofs age out.
    """


def _ttl(expires_at: float, now: float, min_ttl: float) -> float:
    # A floor keeps a key briefly even when the caller's clock (an injected
    # `now`) is behind ours, so an immediate replay is still caught.
    return max(expires_at - now, min_ttl)


class MemoryReplayCache:
    """An in-process replay cache: bounded, expiring, thread-safe.

    Right for one process. Several processes (workers behind a load
    balancer) each see only their own proofs: share a :class:`RedisReplayCache`
    or a database table instead.

    It fails closed: when ``max_entries`` live keys are stored, new ones raise
    :class:`ReplayCacheFullError` rather than forgetting keys that must still
    be remembered. Size it for peak proofs per second x (max_age + 2 x leeway).

    Example::

        replay = MemoryReplayCache()
        proof = dpop.verify_proof(header, htm="GET", htu=url, replay=replay)
    """

    __slots__ = ("_clock", "_expiry", "_lock", "_order", "max_entries", "min_ttl")

    def __init__(
        self, *, max_entries: int = 100_000, min_ttl: float = 1.0, clock: Clock = time.time
    ) -> None:
        """A cache of at most ``max_entries`` keys; ``clock`` gives epoch seconds."""
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError("max_entries must be a positive int")
        self.max_entries = max_entries
        self.min_ttl = min_ttl
        self._clock = clock
        self._expiry: dict[str, float] = {}
        # (expiry, key) in arrival order. Expiries are iat + a constant, so they
        # arrive nearly sorted: the oldest sit at the left and leave in O(1).
        self._order: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def check_and_store(self, key: str, expires_at: float) -> bool:
        """True (and store ``key``) when new; False when ``key`` is still stored."""
        now = self._clock()
        expiry, order = self._expiry, self._order
        with self._lock:
            while order and order[0][0] <= now:
                until, old = order.popleft()
                if expiry.get(old) == until:
                    del expiry[old]
            stored = expiry.get(key)
            if stored is not None and stored > now:
                return False
            if len(expiry) >= self.max_entries and not self._sweep(now):
                raise ReplayCacheFullError("the DPoP replay cache is full")
            ttl = expires_at - now  # _ttl, inlined on this hot path
            until = now + (ttl if ttl > self.min_ttl else self.min_ttl)
            expiry[key] = until
            order.append((until, key))
            return True

    def _sweep(self, now: float) -> bool:
        """Drop every expired key, also those queued behind a live one; True if room."""
        live = {k: until for k, until in self._expiry.items() if until > now}
        self._expiry.clear()
        self._expiry.update(live)
        self._order.clear()
        self._order.extend(sorted((until, k) for k, until in live.items()))
        return len(live) < self.max_entries

    async def acheck_and_store(self, key: str, expires_at: float) -> bool:
        """:meth:`check_and_store` for async callers (no I/O, so no await inside)."""
        return self.check_and_store(key, expires_at)

    def __len__(self) -> int:
        """Keys stored, expired ones included until the next store purges them."""
        return len(self._expiry)


class _SyncRedis(Protocol):
    def set(self, name: str, value: bytes, *, nx: bool, px: int) -> Any: ...


class _AsyncRedis(Protocol):
    def set(self, name: str, value: bytes, *, nx: bool, px: int) -> Awaitable[Any]: ...


class RedisReplayCache:
    """A replay cache in Redis: ``SET key 1 NX PX ttl``, atomic across processes.

    ``client`` is a ``redis.Redis`` (redis-py) or anything with the same
    ``set(name, value, nx=, px=)``; it is used as given and never closed.
    Connection errors propagate: the proof may be fine, so answer 503.

    Example::

        replay = RedisReplayCache(redis.Redis.from_url("redis://127.0.0.1:6379/0"))
        proof = dpop.verify_proof(header, htm="GET", htu=url, replay=replay)
    """

    __slots__ = ("_client", "_clock", "min_ttl", "prefix")

    def __init__(
        self,
        client: _SyncRedis,
        *,
        prefix: str = "jotgate:dpop:jti:",
        min_ttl: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        """Store keys as ``prefix + key``; ``clock`` turns ``expires_at`` into a TTL."""
        self._client = client
        self.prefix = prefix
        self.min_ttl = min_ttl
        self._clock = clock

    def check_and_store(self, key: str, expires_at: float) -> bool:
        """True when Redis stored the key (it was new), False when it was there."""
        ttl_ms = math.ceil(_ttl(expires_at, self._clock(), self.min_ttl) * 1000)
        return bool(self._client.set(self.prefix + key, b"1", nx=True, px=ttl_ms))


class AsyncRedisReplayCache:
    """:class:`RedisReplayCache` over ``redis.asyncio.Redis``, for :func:`averify_proof`.

    Example::

        replay = AsyncRedisReplayCache(redis.asyncio.Redis.from_url(url))
        proof = await dpop.averify_proof(header, htm="GET", htu=url, replay=replay)
    """

    __slots__ = ("_client", "_clock", "min_ttl", "prefix")

    def __init__(
        self,
        client: _AsyncRedis,
        *,
        prefix: str = "jotgate:dpop:jti:",
        min_ttl: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        """Store keys as ``prefix + key``; ``clock`` turns ``expires_at`` into a TTL."""
        self._client = client
        self.prefix = prefix
        self.min_ttl = min_ttl
        self._clock = clock

    async def acheck_and_store(self, key: str, expires_at: float) -> bool:
        """True when Redis stored the key (it was new), False when it was there."""
        ttl_ms = math.ceil(_ttl(expires_at, self._clock(), self.min_ttl) * 1000)
        return bool(await self._client.set(self.prefix + key, b"1", nx=True, px=ttl_ms))
