"""Where failed-login counters live: Redis when configured, else the database.

Both stores keep the same record per key — ``failures``, ``blocked_until``
and ``expires_at`` (times from the throttle's clock, not the store's) — and
update it atomically, so any number of server processes sharing the store
count as one: a Lua script in Redis, an upsert holding the row lock in
PostgreSQL, ``BEGIN IMMEDIATE`` in SQLite.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import case

from .models import LoginThrottle

__all__ = [
    "Counter",
    "DatabaseThrottleStore",
    "DelayRule",
    "RedisThrottleStore",
    "ThrottleStore",
]

_REDIS_PREFIX: Final = "jotgate:throttle:"
# Redis TTLs run on Redis's clock; this slack keeps a record alive at least
# as long as the throttle's own clock says it matters.
_REDIS_SLACK: Final = 60


@dataclass(frozen=True)
class Counter:
    """A key's live record: failures in the window, and when its block ends (0: none)."""

    failures: int
    blocked_until: float


@dataclass(frozen=True)
class DelayRule:
    """Past ``threshold`` failures, block for ``base * 2**(failures - threshold)``, capped."""

    threshold: int
    base: float
    cap: float
    window: float

    def delay(self, failures: int) -> float:
        """Seconds to block after the ``failures``-th failure (0: not yet)."""
        if failures < self.threshold:
            return 0.0
        # min() on the exponent first: 2**10000 would be a needlessly huge int.
        return float(min(self.cap, self.base * 2 ** min(failures - self.threshold, 62)))


class ThrottleStore(Protocol):
    """Shared counters, updated atomically."""

    async def read(self, keys: list[str], now: float) -> dict[str, Counter]:
        """The live (unexpired) records among ``keys``."""

    async def fail(self, key: str, rule: DelayRule, now: float) -> Counter:
        """Count one failure on ``key`` and set its block per ``rule``."""

    async def mark(self, key: str, now: float, ttl: float) -> None:
        """Keep a record with no failures (a known-client mark) for ``ttl`` seconds."""

    async def clear(self, key: str) -> None:
        """Forget ``key``."""


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class DatabaseThrottleStore:
    """The ``login_throttle`` table on SQLite or PostgreSQL."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def read(self, keys: list[str], now: float) -> dict[str, Counter]:
        """One indexed ``IN`` query."""
        async with self._sessions() as db:
            rows = (
                await db.scalars(
                    select(LoginThrottle).where(
                        LoginThrottle.key.in_(keys), LoginThrottle.expires_at > _at(now)
                    )
                )
            ).all()
        return {
            r.key: Counter(r.failures, r.blocked_until.timestamp() if r.blocked_until else 0.0)
            for r in rows
        }

    async def fail(self, key: str, rule: DelayRule, now: float) -> Counter:
        """Upsert-increment (an expired count restarts), then set the block; one transaction."""
        window_end = _at(now + rule.window)
        async with self._sessions() as db, db.begin():
            insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
            expired = LoginThrottle.expires_at <= _at(now)
            statement = (
                insert(LoginThrottle)
                .values(key=key, failures=1, blocked_until=None, expires_at=window_end)
                .on_conflict_do_update(
                    index_elements=[LoginThrottle.key],
                    set_={
                        "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
                        "expires_at": window_end,
                    },
                )
                .returning(LoginThrottle.failures)
            )
            failures = int((await db.execute(statement)).scalar_one())
            delay = rule.delay(failures)
            blocked = now + delay if delay else 0.0
            await db.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(
                    blocked_until=_at(blocked) if blocked else None,
                    expires_at=_at(max(now + rule.window, blocked)),
                )
                .execution_options(synchronize_session=False)
            )
        return Counter(failures, blocked)

    async def mark(self, key: str, now: float, ttl: float) -> None:
        """Upsert a record with no failures."""
        async with self._sessions() as db, db.begin():
            insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
            values = {"failures": 0, "blocked_until": None, "expires_at": _at(now + ttl)}
            await db.execute(
                insert(LoginThrottle)
                .values(key=key, **values)
                .on_conflict_do_update(index_elements=[LoginThrottle.key], set_=values)
            )

    async def clear(self, key: str) -> None:
        """Delete the row."""
        async with self._sessions() as db, db.begin():
            await db.execute(delete(LoginThrottle).where(LoginThrottle.key == key))

    async def purge_expired(self, now: float) -> None:
        """Housekeeping: drop records nobody needs any more."""
        async with self._sessions() as db, db.begin():
            await db.execute(delete(LoginThrottle).where(LoginThrottle.expires_at <= _at(now)))


# KEYS[1]: the record. ARGV: now, threshold, base, cap, window.
# Returns {failures, blocked_until as a string} (Lua numbers would be truncated).
_FAIL_SCRIPT: Final = """
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local expires = tonumber(redis.call('HGET', KEYS[1], 'e') or '0')
local failures = 1
if expires > now then
  failures = redis.call('HINCRBY', KEYS[1], 'f', 1)
end
local blocked = 0
if failures >= threshold then
  local delay = base * 2 ^ math.min(failures - threshold, 62)
  if delay > cap then delay = cap end
  blocked = now + delay
end
expires = now + window
if blocked > expires then expires = blocked end
redis.call('HSET', KEYS[1], 'f', failures, 'b', string.format('%.3f', blocked),
           'e', string.format('%.3f', expires))
redis.call('EXPIRE', KEYS[1], math.ceil(expires - now) + tonumber(ARGV[6]))
return {failures, string.format('%.3f', blocked)}
"""


def _number(raw: Any) -> float:
    if raw is None:
        return 0.0
    value = float(raw.decode() if isinstance(raw, bytes) else raw)
    return value if math.isfinite(value) else 0.0


class RedisThrottleStore:
    """A hash per key (``f``, ``b``, ``e``) under ``jotgate:throttle:``."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._fail = redis.register_script(_FAIL_SCRIPT)

    async def read(self, keys: list[str], now: float) -> dict[str, Counter]:
        """One pipelined ``HMGET`` per key, one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(_REDIS_PREFIX + key, "f", "b", "e")
            replies = await pipe.execute()
        found = {}
        for key, (failures, blocked, expires) in zip(keys, replies, strict=True):
            if failures is not None and _number(expires) > now:
                found[key] = Counter(int(_number(failures)), _number(blocked))
        return found

    async def fail(self, key: str, rule: DelayRule, now: float) -> Counter:
        """The Lua script above: read, count and block in one atomic step."""
        failures, blocked = await self._fail(
            keys=[_REDIS_PREFIX + key],
            args=[
                repr(now),
                rule.threshold,
                repr(rule.base),
                repr(rule.cap),
                repr(rule.window),
                _REDIS_SLACK,
            ],
        )
        return Counter(int(failures), _number(blocked))

    async def mark(self, key: str, now: float, ttl: float) -> None:
        """``HSET`` then ``EXPIRE``, in one pipeline."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_REDIS_PREFIX + key, mapping={"f": 0, "b": "0", "e": f"{now + ttl:.3f}"})
            pipe.expire(_REDIS_PREFIX + key, math.ceil(ttl) + _REDIS_SLACK)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        """``DEL``."""
        await self._redis.delete(_REDIS_PREFIX + key)
