"""Audit events: what happened, to whom, from where. Never secrets or tokens.

Events are written in the caller's transaction when there is one, so an
event exists exactly when the change it reports was committed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuditEvent

__all__ = ["EVENTS", "ClientInfo", "event_fields", "insert_event", "list_events", "record"]

#: Every event name the server records.
EVENTS: Final = frozenset(
    {
        "user_registered",
        "login_succeeded",
        "login_failed",
        "login_throttled",
        "refresh",
        "refresh_reuse_detected",
        "logout",
        "logout_all",
        "session_ended",
        "token_revoked",
        "password_changed",
        "user_disabled",
        "user_enabled",
        "roles_changed",
        "key_rotated",
    }
)


@dataclass(frozen=True)
class ClientInfo:
    """Who is calling: address and user agent, as far as the server can tell."""

    ip: str | None = None
    user_agent: str | None = None


def record(
    db: AsyncSession,
    event: str,
    *,
    client: ClientInfo | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    **detail: Any,
) -> None:
    """Add an event to ``db``'s transaction."""
    db.add(AuditEvent(**_fields(event, client, user_id, session_id, detail)))


async def insert_event(
    db: AsyncSession,
    event: str,
    *,
    client: ClientInfo | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    **detail: Any,
) -> None:
    """As :func:`record`, as one ``INSERT`` now (no unit-of-work flush): for hot paths."""
    await db.execute(
        insert(AuditEvent).values(**_fields(event, client, user_id, session_id, detail))
    )


def event_fields(
    event: str,
    *,
    client: ClientInfo | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """The ``audit_events`` row for an event (for a Core ``INSERT``)."""
    return _fields(event, client, user_id, session_id, detail)


def _fields(
    event: str,
    client: ClientInfo | None,
    user_id: str | None,
    session_id: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    client = client or ClientInfo()
    return {
        "at": dt.datetime.now(dt.UTC),
        "event": event,
        "user_id": user_id,
        "session_id": session_id,
        "ip": client.ip,
        "user_agent": (client.user_agent or None) and client.user_agent[:512],
        "detail": detail,
    }


async def list_events(
    db: AsyncSession,
    *,
    user_id: str | None = None,
    event: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Newest first, optionally for one user, one event name, or from ``since`` on."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if event is not None:
        query = query.where(AuditEvent.event == event)
    return list((await db.scalars(query)).all())
