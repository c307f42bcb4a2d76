"""``jotgate audit``: read the auth server's audit trail (newest first).

Filters: ``--user`` (a username or a user id), ``--type`` (an event name,
repeatable), ``--since`` (a duration back from now, ``1h``, or a time,
``2026-11-23T08:00:00Z``). Lines for people by default, ``--json`` for
programs. Events never hold passwords or tokens, so nothing here is secret.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands
from ._serverdb import with_database
from ._timefmt import parse_duration, parse_moment
from .serve import add_settings_flags

__all__ = ["register"]

_EPILOG = """\
examples:
  jotgate audit --since 1h
  jotgate audit --user alice --type login_failed --type login_throttled
  jotgate audit --since 2026-11-23T08:00:00Z --json | jq '.[].event'
"""


def register(commands: Commands) -> None:
    """Add the top-level ``audit`` command."""
    parser = commands.command(
        "audit", help="show the auth server's audit events", handler=_audit, epilog=_EPILOG
    )
    parser.add_argument("--user", metavar="USER", help="a username or user id")
    parser.add_argument(
        "--type", action="append", default=[], metavar="EVENT", help="an event name (repeatable)"
    )
    parser.add_argument("--since", metavar="WHEN", help="a duration back (1h, 30m) or a time")
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (100)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_settings_flags(parser, only=("database_url",))


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_moment(text)
    except ValueError:
        raise CliError(
            f"--since {text!r}: give a duration (1h, 30m) or a time (2026-11-23T08:00:00Z)",
            exit_status=USAGE_ERROR,
        ) from None


def _check(args: argparse.Namespace) -> None:
    from jotgate.server.audit import EVENTS

    unknown = [t for t in args.type if t not in EVENTS]
    if unknown:
        raise CliError(
            f"unknown event type {unknown[0]!r}; one of: " + ", ".join(sorted(EVENTS)),
            exit_status=USAGE_ERROR,
        )
    if not 1 <= args.limit <= 100_000:
        raise CliError("--limit must be between 1 and 100000", exit_status=USAGE_ERROR)


async def _user_ids(db: Any, user: str | None) -> tuple[str | None, dict[str, str]]:
    """The id the filter means, and every id -> username (to print names)."""
    from sqlalchemy import select

    from jotgate.server.models import User

    async with db() as session:
        names = {
            row.id: row.username
            for row in (await session.execute(select(User.id, User.username))).all()
        }
    if user is None:
        return None, names
    if user in names:
        return user, names
    from jotgate.server.errors import ApiError
    from jotgate.server.usernames import normalize_username

    try:
        wanted = normalize_username(user)
    except ApiError:
        wanted = user
    for user_id, name in names.items():
        if name == wanted:
            return user_id, names
    raise CliError(f"no user {user!r}")


def _describe(event: Any, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "event": event.event,
        "user_id": event.user_id,
        "username": names.get(event.user_id or ""),
        "session_id": event.session_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    }


def _line(row: dict[str, Any]) -> str:
    parts = [row["at"], row["event"]]
    if row["username"] or row["user_id"]:
        parts.append(f"user={row['username'] or row['user_id']}")
    if row["ip"]:
        parts.append(f"ip={row['ip']}")
    if row["session_id"]:
        parts.append(f"session={row['session_id'][:8]}")
    parts.extend(f"{k}={v}" for k, v in sorted(row["detail"].items()) if v is not None)
    return "  ".join(parts)


def _audit(args: argparse.Namespace, console: Console) -> int:
    _check(args)
    since = _since(args.since)

    async def work(settings: Any, db: Any) -> int:
        import datetime as dt

        from jotgate.server.audit import list_events

        user_id, names = await _user_ids(db, args.user)
        moment = None if since is None else dt.datetime.fromtimestamp(since, dt.UTC)
        events: list[Any] = []
        async with db() as session:
            for event_type in args.type or [None]:
                events += await list_events(
                    session, user_id=user_id, event=event_type, since=moment, limit=args.limit
                )
        events.sort(key=lambda e: e.id, reverse=True)
        rows = [_describe(e, names) for e in events[: args.limit]]
        if args.json:
            console.json(rows)
        else:
            for row in rows:
                console.print(_line(row))
        return 0

    return with_database(args, work)
