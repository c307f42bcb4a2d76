"""The revocation feed behind ``GET /auth/revocations`` (docs/middleware.md, "Polling").

Every revoked session gets a ``revocation_feed`` row in the transaction that
revokes it, whatever the denylist store, so verifiers elsewhere can poll
for ``{"sid", "exp"}`` entries with a cursor (the row id). On PostgreSQL the
writers take one advisory lock until they commit: ids then become visible
strictly in order, and a poller that has seen id N can never later miss a
smaller id committed after its poll. Revocations are rare next to
verifications, so the lock costs little. SQLite serialises writers anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .denylist import add_in_transaction
from .models import RevocationEvent

__all__ = [
    "FeedPage",
    "UnknownCursor",
    "follow_feed",
    "purge_expired",
    "read_feed",
    "record_revocations",
]

# Any fixed number distinct from the migration lock's.
_FEED_LOCK_ID: Final = 0x6A6F7468
_PAGE: Final = 5000


class UnknownCursor(Exception):
    """A cursor this server never handed out (garbage, or from another database)."""


@dataclass(frozen=True)
class FeedPage:
    """Entries to apply and the cursor to send next time."""

    revoked: list[dict[str, Any]]
    cursor: str
    #: A full page: more entries follow after ``cursor``.
    more: bool = False


async def record_revocations(
    db: AsyncSession, sids: list[str], until: dt.datetime, *, denylist_in_db: bool
) -> None:
    """Inside the revoking transaction: feed rows (and denylist rows when the DB holds it)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _FEED_LOCK_ID})
    if denylist_in_db:
        await add_in_transaction(db, sids, until)
    now = dt.datetime.now(dt.UTC)
    db.add_all(RevocationEvent(sid=sid, expires_at=until, at=now) for sid in sids)


def _parse_cursor(cursor: str) -> int:
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise UnknownCursor
    return int(cursor)


async def read_feed(sessions: async_sessionmaker[AsyncSession], since: str | None) -> FeedPage:
    """Current entries after ``since`` (all of them without it), oldest first.

    Expired entries are left out (no token of theirs can verify any more),
    which is also why purging them never invalidates a cursor.
    """
    after = 0 if since is None else _parse_cursor(since)
    now = dt.datetime.now(dt.UTC)
    async with sessions() as db:
        newest = int(await db.scalar(select(func.coalesce(func.max(RevocationEvent.id), 0))) or 0)
        if after > newest:
            raise UnknownCursor
        rows = (
            await db.execute(
                select(RevocationEvent.id, RevocationEvent.sid, RevocationEvent.expires_at)
                .where(RevocationEvent.id > after, RevocationEvent.expires_at > now)
                .order_by(RevocationEvent.id)
                .limit(_PAGE)
            )
        ).all()
    # A full page ends at its last row: the client gets the rest next poll.
    cursor = rows[-1].id if len(rows) == _PAGE else newest
    revoked = [{"sid": r.sid, "exp": int(r.expires_at.timestamp())} for r in rows]
    return FeedPage(revoked=revoked, cursor=str(cursor), more=len(rows) == _PAGE)


async def follow_feed(
    sessions: async_sessionmaker[AsyncSession], since: str | None
) -> tuple[list[dict[str, Any]], str, bool]:
    """:func:`read_feed` for this server's own denylist cache (:class:`.denylist.Denylist`).

    A cursor the database no longer knows (it was replaced or restored)
    starts over from the beginning: entries are only ever added to the cache.
    """
    try:
        page = await read_feed(sessions, since)
    except UnknownCursor:
        page = await read_feed(sessions, None)
    return page.revoked, page.cursor, page.more


async def purge_expired(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Housekeeping: drop entries whose tokens have all expired (never the newest row,
    which anchors the cursor)."""
    async with sessions() as db, db.begin():
        newest = await db.scalar(select(func.max(RevocationEvent.id)))
        await db.execute(
            delete(RevocationEvent).where(
                RevocationEvent.expires_at <= dt.datetime.now(dt.UTC),
                RevocationEvent.id != (newest or 0),
            )
        )
