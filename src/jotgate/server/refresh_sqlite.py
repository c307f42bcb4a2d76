"""Refresh-token rotation as one function of a ``sqlite3`` connection, for the writer thread.

The statements are :mod:`.refresh_sql`'s Core statements compiled once for
SQLite (named parameters), so the SQL has one definition; this module only
converts values the way SQLAlchemy stores them on SQLite (naive UTC
datetimes as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, JSON as text, booleans as
0/1), which a test pins against rows written through the ORM.

Run inside :class:`.sqlite_writer.SqliteWriter`'s ``BEGIN IMMEDIATE``
transaction, the read and the conditional update cannot interleave with
another writer; the race guard stays anyway (it costs nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from .refresh_rules import (
    USED_BEFORE,
    Found,
    LostRace,
    Plan,
    Rotated,
    UsedBefore,
    judge,
    rotation_of,
)
from .refresh_sql import AUDIT, FIND, ROTATE, TOKENS, TOUCH

__all__ = ["Prepared", "db_time", "prepare", "rotate"]

_DIALECT: Final = sqlite.dialect(paramstyle="named")
_TOKEN_COLUMNS: Final = ["id", "session_id", "token_hash", "created_at", "expires_at"]
_AUDIT_COLUMNS: Final = ["at", "event", "user_id", "session_id", "ip", "user_agent", "detail"]

_FIND_SQL: Final = str(FIND.compile(dialect=_DIALECT))
_ROTATE_SQL: Final = str(ROTATE.compile(dialect=_DIALECT))
_TOUCH_SQL: Final = str(TOUCH.compile(dialect=_DIALECT))
_INSERT_SQL: Final = str(insert(TOKENS).compile(dialect=_DIALECT, column_keys=_TOKEN_COLUMNS))
_AUDIT_SQL: Final = str(insert(AUDIT).compile(dialect=_DIALECT, column_keys=_AUDIT_COLUMNS))


def db_time(value: dt.datetime) -> str:
    """An aware datetime as SQLAlchemy stores it on SQLite: naive UTC text, microseconds."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    # SQLAlchemy's storage format (4-digit zero-padded year, always 6 fraction
    # digits), at a fraction of strftime's cost (time module, locale, environ).
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _found(row: tuple[Any, ...] | None) -> Found | None:
    if row is None:
        return None
    token_id, expires_at, used_at, sid, session_expires_at, revoked_at, jkt, uid, roles, off = row
    expires = _time(expires_at)
    assert expires is not None  # NOT NULL column
    return Found(
        id=token_id,
        expires_at=expires,
        used_at=_time(used_at),
        sid=sid,
        session_expires_at=_time(session_expires_at),
        revoked_at=_time(revoked_at),
        dpop_jkt=jkt,
        uid=uid,
        roles=list(json.loads(roles)) if roles else [],
        disabled=bool(off),
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A :class:`.refresh_rules.Plan` with its values already in SQLite's stored form."""

    plan: Plan
    stamp: str
    idle_expiry_stamp: str
    audit: dict[str, Any]


def prepare(plan: Plan) -> Prepared:
    """Convert ``plan``'s values on the event loop, not in the writer thread."""
    audit = dict(plan.audit)
    audit["at"] = db_time(audit["at"])
    audit["detail"] = json.dumps(audit["detail"])
    return Prepared(
        plan=plan,
        stamp=db_time(plan.now),
        idle_expiry_stamp=db_time(plan.idle_expiry),
        audit=audit,
    )


def rotate(connection: sqlite3.Connection, prepared: Prepared) -> Rotated | UsedBefore:
    """Find, judge and rotate one refresh token; :data:`USED_BEFORE` if it was rotated already.

    Refusals raise :class:`.errors.ApiError` before anything is written.
    """
    plan = prepared.plan
    found = _found(connection.execute(_FIND_SQL, {"p_hash": plan.token_hash}).fetchone())
    if not judge(found, now=plan.now, access_sid=plan.access_sid, proof_jkt=plan.proof_jkt):
        return USED_BEFORE
    assert found is not None
    rotated = rotation_of(found, plan)
    sid, successor = rotated.session.id, plan.successor
    changed = connection.execute(
        _ROTATE_SQL,
        {
            "p_tid": found.id,
            "p_now": prepared.stamp,
            "p_successor": successor.id,
            "p_sealed": successor.sealed,
        },
    ).fetchall()
    if (found.id,) not in changed:
        raise LostRace
    capped = rotated.expires_at != plan.idle_expiry
    connection.execute(
        _INSERT_SQL,
        {
            "id": successor.id,
            "session_id": sid,
            "token_hash": successor.token_hash,
            "created_at": prepared.stamp,
            "expires_at": db_time(rotated.expires_at) if capped else prepared.idle_expiry_stamp,
        },
    )
    connection.execute(
        _TOUCH_SQL,
        {
            "p_sid": sid,
            "p_now": prepared.stamp,
            "p_ip": plan.ip,
            # Bound from now on, like a login with a proof (only if not bound yet).
            "p_jkt": plan.proof_jkt if found.dpop_jkt is None else None,
        },
    )
    connection.execute(
        _AUDIT_SQL, {**prepared.audit, "user_id": rotated.user.id, "session_id": sid}
    )
    return rotated
