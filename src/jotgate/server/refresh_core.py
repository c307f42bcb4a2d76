"""Refresh-token rotation through SQLAlchemy Core, on any database SQLAlchemy speaks.

The general path: it serves drivers without a fast path (:mod:`.refresh_sqlite`,
:mod:`.refresh_pg`) and every token that was used before (the grace-window
replay or theft, which :mod:`.sessions` decides inside the same transaction).
Four statements after the lookup: the conditional ``UPDATE ... RETURNING``
(the race guard, which also ends the predecessor's grace), the successor's
``INSERT``, the session's "last used", the audit row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .refresh_rules import Found, LostRace, Plan, Rotated, rotation_of
from .refresh_sql import AUDIT, FIND, ROTATE, TOKENS, TOUCH

__all__ = ["find", "rotate"]


async def find(connection: AsyncConnection, token_hash: str) -> Found | None:
    """The token with its session and user (outer joins: those columns may be NULL)."""
    row: Any = (await connection.execute(FIND, {"p_hash": token_hash})).one_or_none()
    if row is None:
        return None
    return Found(
        id=row.id,
        expires_at=row.expires_at,
        used_at=row.used_at,
        sid=row.sid,
        session_expires_at=row.session_expires_at,
        revoked_at=row.revoked_at,
        dpop_jkt=row.dpop_jkt,
        uid=row.uid,
        roles=list(row.roles or []),
        disabled=bool(row.disabled),
    )


async def rotate(connection: AsyncConnection, found: Found, plan: Plan) -> Rotated:
    """Rotate ``found`` (judged rotatable) inside the caller's write transaction.

    :class:`.refresh_rules.LostRace` when another transaction rotated it
    first; the caller rolls back (the predecessor's grace included) and retries.
    """
    rotated = rotation_of(found, plan)
    sid, successor = rotated.session.id, plan.successor
    changed = await connection.execute(
        ROTATE,
        {
            "p_tid": found.id,
            "p_now": plan.now,
            "p_successor": successor.id,
            "p_sealed": successor.sealed,
        },
    )
    if found.id not in changed.scalars().all():
        raise LostRace
    await connection.execute(
        insert(TOKENS),
        {
            "id": successor.id,
            "session_id": sid,
            "token_hash": successor.token_hash,
            "created_at": plan.now,
            "expires_at": rotated.expires_at,
            "used_at": None,
            "successor_id": None,
            "successor_sealed": None,
        },
    )
    await connection.execute(
        TOUCH,
        {
            "p_sid": sid,
            "p_now": plan.now,
            "p_ip": plan.ip,
            # Bound from now on, like a login with a proof (only if not bound yet).
            "p_jkt": plan.proof_jkt if found.dpop_jkt is None else None,
        },
    )
    await connection.execute(
        insert(AUDIT), {**plan.audit, "user_id": rotated.user.id, "session_id": sid}
    )
    return rotated
