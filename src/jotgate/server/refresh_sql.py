"""The refresh fast path's SQL: Core statements on the tables, built once.

Plain Core (no ORM compile step per request), parameters bound per
execution. Used by :mod:`jotgate.server.sessions`.
"""

from __future__ import annotations

from typing import Final
from typing import cast as cast_type

from sqlalchemy import (
    LargeBinary,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    null,
    or_,
    select,
    update,
)

from .models import AuditEvent, RefreshToken, Session, User, UtcDateTime

__all__ = ["AUDIT", "FIND", "PRESENTED", "ROTATE", "SESSIONS", "TOKENS", "TOUCH", "USERS"]

TOKENS: Final = cast_type(Table, RefreshToken.__table__)
SESSIONS: Final = cast_type(Table, Session.__table__)
USERS: Final = cast_type(Table, User.__table__)
AUDIT: Final = cast_type(Table, AuditEvent.__table__)

FIND: Final = (
    select(
        TOKENS.c.id,
        TOKENS.c.expires_at,
        TOKENS.c.used_at,
        SESSIONS.c.id.label("sid"),
        SESSIONS.c.expires_at.label("session_expires_at"),
        SESSIONS.c.revoked_at,
        SESSIONS.c.dpop_jkt,
        USERS.c.id.label("uid"),
        USERS.c.roles,
        USERS.c.disabled,
    )
    .select_from(
        TOKENS.outerjoin(SESSIONS, SESSIONS.c.id == TOKENS.c.session_id).outerjoin(
            USERS, USERS.c.id == SESSIONS.c.user_id
        )
    )
    .where(TOKENS.c.token_hash == bindparam("p_hash"))
)
PRESENTED = TOKENS.c.id == bindparam("p_tid")
# One statement for two rows: the presented token becomes used (only if it
# still is unused: the race guard), and the token it succeeded loses its grace
# (its sealed successor, i.e. the presented token, is wiped).
ROTATE: Final = (
    update(TOKENS)
    .where(
        or_(
            and_(PRESENTED, TOKENS.c.used_at.is_(None)),
            TOKENS.c.successor_id == bindparam("p_tid"),
        )
    )
    .values(
        used_at=case((PRESENTED, bindparam("p_now", type_=UtcDateTime())), else_=TOKENS.c.used_at),
        successor_id=case(
            (PRESENTED, bindparam("p_successor", type_=String(36))),
            else_=TOKENS.c.successor_id,
        ),
        successor_sealed=case(
            (PRESENTED, cast(bindparam("p_sealed", type_=LargeBinary()), LargeBinary())),
            else_=null(),
        ),
    )
    .returning(TOKENS.c.id)
)
TOUCH: Final = (
    update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("p_sid"))
    .values(
        last_used_at=bindparam("p_now", type_=UtcDateTime()),
        ip=func.coalesce(bindparam("p_ip", type_=String(64)), SESSIONS.c.ip),
        # Bound from now on, like a login with a proof (only if not bound yet).
        dpop_jkt=func.coalesce(SESSIONS.c.dpop_jkt, bindparam("p_jkt", type_=String(64))),
    )
)
