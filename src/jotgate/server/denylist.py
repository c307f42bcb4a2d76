"""Revoked sessions, by ``sid``: their access tokens are refused until they expire.

Kept in Redis when configured (keys expire by themselves), otherwise in the
``denylist`` table. The Redis keys and messages are the revocation wire
format of docs/middleware.md, so verifiers elsewhere (``RedisRevocations``
with its default names) read exactly what the server writes: key
``jotgate:revoked:sid:<sid>`` holding ``exp`` with a TTL to match, and a
``PUBLISH jotgate:revocations`` of ``[{"sid": ..., "exp": ...}, ...]``.

Each process caches answers: "revoked" forever (a
revocation is never undone), "not revoked" for at most
``denylist_cache_seconds`` (<= 1 s), so a logout made through any process is
seen by every other one within that time.

Lookups are single-flight: while one store lookup for a ``sid`` is in
flight, other requests for that ``sid`` await its answer instead of
querying too (without it, every request of a busy session queried the store
at once each time its cache entry expired). A joined lookup started at most
a moment ago, so the <= 1 s guarantee holds.

With the denylist in the database, the process does not ask per session at
all: it follows the revocation feed (:mod:`.revocation_feed`, written in
every revoking transaction, ids visible in order) and keeps every current
revocation in memory. A check whose last poll is older than
``denylist_cache_seconds`` polls first (single-flight, from the last
cursor): one small query a second per process, however many sessions are
active, where per-session lookups cost one query per active session per
second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import DenylistEntry, UtcDateTime

__all__ = ["DatabaseDenylist", "Denylist", "DenylistStore", "RedisDenylist"]

#: docs/middleware.md: ``RedisRevocations``' default key prefix and channel.
REDIS_KEY_PREFIX: Final = "jotgate:revoked:"
REDIS_CHANNEL: Final = "jotgate:revocations"
_REDIS_PREFIX: Final = REDIS_KEY_PREFIX + "sid:"
_CACHE_LIMIT: Final = 100_000
_TABLE: Final = cast(Table, DenylistEntry.__table__)
_CONTAINS: Final = select(_TABLE.c.sid).where(
    _TABLE.c.sid == bindparam("p_sid"),
    _TABLE.c.expires_at > bindparam("p_now", type_=UtcDateTime()),
)


class DenylistStore(Protocol):
    """Where revocations live; shared by all processes."""

    async def add(self, sids: list[str], until: dt.datetime) -> None:
        """Deny ``sids`` until ``until``."""

    async def contains(self, sid: str) -> bool:
        """True when ``sid`` is denied now."""


class DatabaseDenylist:
    """The ``denylist`` table (SQLite or PostgreSQL)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, sids: list[str], until: dt.datetime) -> None:
        """Upsert: a later expiry wins (a session may be revoked twice)."""
        if not sids:
            return
        async with self._sessions() as db, db.begin():
            await add_in_transaction(db, sids, until)

    async def contains(self, sid: str) -> bool:
        """One indexed primary-key lookup: a prebuilt Core statement in a read transaction."""
        async with self._sessions() as db:
            connection = await db.connection()
            found = await connection.scalar(
                _CONTAINS, {"p_sid": sid, "p_now": dt.datetime.now(dt.UTC)}
            )
        return found is not None

    async def purge_expired(self) -> None:
        """Drop entries whose tokens have all expired."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                delete(DenylistEntry).where(DenylistEntry.expires_at <= dt.datetime.now(dt.UTC))
            )


async def add_in_transaction(db: AsyncSession, sids: list[str], until: dt.datetime) -> None:
    """Insert or extend denylist rows inside the caller's transaction."""
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DenylistEntry).values([{"sid": s, "expires_at": until} for s in sids])
    statement = statement.on_conflict_do_update(
        index_elements=[DenylistEntry.sid], set_={"expires_at": until}
    )
    await db.execute(statement)


class RedisDenylist:
    """``SET jotgate:revoked:sid:<sid> <exp> EX <seconds>`` then ``PUBLISH``: the wire format."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    async def add(self, sids: list[str], until: dt.datetime) -> None:
        """One pipeline round trip: every key, then one message listing them all.

        Keys come first, so a verifier that subscribes and scans at this very
        moment finds the entry in one or the other.
        """
        seconds = max(1, int((until - dt.datetime.now(dt.UTC)).total_seconds()) + 1)
        exp = int(until.timestamp())
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.set(_REDIS_PREFIX + sid, str(exp), ex=seconds)
            pipe.publish(REDIS_CHANNEL, json.dumps([{"sid": sid, "exp": exp} for sid in sids]))
            await pipe.execute()

    async def contains(self, sid: str) -> bool:
        """One EXISTS."""
        return bool(await self._redis.exists(_REDIS_PREFIX + sid))


#: Reads the revocation feed after a cursor (None: from the start):
#: ``(entries of {"sid", "exp"}, next cursor, whether more pages follow)``.
FeedReader = Callable[[str | None], Awaitable[tuple[list[dict[str, Any]], str, bool]]]


class Denylist:
    """The store plus this process's cache; what the token layer talks to.

    ``feed``: follow the revocation feed instead of asking the store per
    session (see the module docstring); for the database store.
    """

    def __init__(
        self, store: DenylistStore, *, negative_ttl: float, feed: FeedReader | None = None
    ) -> None:
        self.store = store
        self._negative_ttl = negative_ttl
        self._revoked: dict[str, float] = {}
        self._not_revoked: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Future[bool]] = {}
        self._feed = feed
        self._cursor: str | None = None
        self._polled_at = float("-inf")
        self._polling: asyncio.Future[None] | None = None

    async def revoke(self, sids: list[str], until: dt.datetime) -> None:
        """Deny ``sids`` everywhere; this process knows at once."""
        if not sids:
            return
        await self.store.add(sids, until)
        self.remember(sids, until)

    def remember(self, sids: list[str], until: dt.datetime) -> None:
        """Record in this process's cache a revocation already stored by the caller."""
        deadline = until.timestamp()
        for sid in sids:
            self._revoked[sid] = deadline
            self._not_revoked.pop(sid, None)
        self._trim()

    async def is_revoked(self, sid: str) -> bool:
        """True when the session was revoked (possibly by another process <= 1 s ago)."""
        now = time.time()
        revoked_until = self._revoked.get(sid)
        if revoked_until is not None:
            if revoked_until > now:
                return True
            del self._revoked[sid]
        if self._feed is not None:
            if now - self._polled_at < self._negative_ttl:
                return False
            await self._poll()
            revoked_until = self._revoked.get(sid)
            return revoked_until is not None and revoked_until > time.time()
        checked_at = self._not_revoked.get(sid)
        if checked_at is not None and now - checked_at < self._negative_ttl:
            return False
        lookup = self._in_flight.get(sid)
        if lookup is None:
            # A task of its own: a cancelled caller must not cancel the others' answer.
            lookup = asyncio.ensure_future(self._look_up(sid, now))
            self._in_flight[sid] = lookup
            lookup.add_done_callback(lambda done: self._lookup_done(sid, done))
        return await asyncio.shield(lookup)

    async def _poll(self) -> None:
        """Catch up with the feed; concurrent callers share one poll."""
        polling = self._polling
        if polling is None:
            # A task of its own: a cancelled caller must not cancel the others' answer.
            polling = self._polling = asyncio.ensure_future(self._read_feed(time.time()))
            polling.add_done_callback(self._poll_done)
        await asyncio.shield(polling)

    def _poll_done(self, done: asyncio.Future[None]) -> None:
        if self._polling is done:
            self._polling = None
        if not done.cancelled():
            done.exception()  # retrieved, even when every caller went away

    async def _read_feed(self, started: float) -> None:
        assert self._feed is not None
        more = True
        while more:
            entries, cursor, more = await self._feed(self._cursor)
            for entry in entries:
                sid, exp = entry["sid"], float(entry["exp"])
                self._revoked[sid] = max(exp, self._revoked.get(sid, exp))
            self._cursor = cursor
        # Everything revoked before the poll began is known now.
        self._polled_at = started
        self._trim()

    def _lookup_done(self, sid: str, done: asyncio.Future[bool]) -> None:
        if self._in_flight.get(sid) is done:
            del self._in_flight[sid]
        if not done.cancelled():
            done.exception()  # retrieved, even when every caller went away

    async def _look_up(self, sid: str, now: float) -> bool:
        if await self.store.contains(sid):
            # The exact expiry is unknown here; the access TTL bounds it and the
            # entry only guards tokens that expire anyway, so keep it an hour.
            self._revoked[sid] = now + 3600
            self._not_revoked.pop(sid, None)
            return True
        if self._negative_ttl > 0 and sid not in self._revoked:
            self._not_revoked[sid] = now
        self._trim()
        return False

    def _trim(self) -> None:
        # Bounded memory under floods of distinct sids: dropping the per-session
        # cache is always safe. Following the feed, the revoked map is the only
        # record this process has: only expired entries may go.
        if len(self._not_revoked) > _CACHE_LIMIT:
            self._not_revoked.clear()
        if len(self._revoked) > _CACHE_LIMIT:
            now = time.time()
            self._revoked = {s: t for s, t in self._revoked.items() if t > now}
