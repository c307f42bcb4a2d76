"""Databases and test data for ``server_bench.py``, made before any timing starts.

Users are registered through the server's own :class:`UserService` (policy,
argon2id hash), so logins check real hashes. Sessions and refresh tokens are
bulk-inserted with the server's models and its own refresh-token hashing,
because a benchmark that spends thousands of refreshes needs tens of
thousands of single-use tokens, and making each through ``/auth/login`` would
cost one argon2 hash apiece. Access tokens are signed by the server's own
:class:`TokenService` with the key the server will load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from jotgate.server.audit import ClientInfo
from jotgate.server.models import RefreshToken, Session
from jotgate.server.runtime import Runtime
from jotgate.server.session_records import hash_refresh_token
from jotgate.server.tokens import new_refresh_token

__all__ = [
    "PG_ADMIN_DSN",
    "Pools",
    "count_refresh_rows",
    "database",
    "prepare",
    "refresh_batch",
    "server_env",
]

#: Where PostgreSQL listens on the development machines (trust auth, database ``test``).
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ISSUER = "http://jotgate-bench.invalid"
# Not among the 10,000 most common passwords, so the policy accepts it.
PASSWORD = "bench-" + "correct-horse-battery"
_BENCH_CLIENT = ClientInfo(ip="127.0.0.1", user_agent="jotgate-server-bench")


def server_env(database_url: str, secret: str, signing_alg: str) -> dict[str, str]:
    """The environment the server (and this process's set-up) reads its settings from.

    Every ``JOTGATE_*`` variable of the caller is dropped so a developer's shell
    cannot change what is measured. The issuer is fixed (not derived from the
    port) so tokens made here verify on the server. Access tokens live an hour
    so none expires during a run; their lifetime costs nothing per request.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOTGATE_")}
    env.update(
        JOTGATE_DATABASE_URL=database_url,
        JOTGATE_ISSUER=ISSUER,
        JOTGATE_SECRET=secret,
        JOTGATE_SIGNING_ALG=signing_alg,
        JOTGATE_ACCESS_TOKEN_TTL="1h",
    )
    return env


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    """A fresh, empty database of ``kind`` (sqlite or postgres); dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="jotgate-bench-") as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return
    if kind != "postgres":
        raise ValueError(f"unknown database {kind!r}")
    import asyncpg  # type: ignore[import-untyped]

    name = f"jotgate_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            # FORCE: a server that failed to stop must not keep the database alive.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def postgres_version() -> str:
    """The PostgreSQL server's version string (for the machine note)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


@dataclass
class Pools:
    """What the load scripts send: one request's material per line."""

    user_ids: list[str]
    #: Access tokens of distinct sessions, for ``/auth/verify``, ``/auth/me`` and the ceilings.
    access_tokens: list[str]
    #: JSON bodies for ``/auth/login`` (users taken in turn).
    login_bodies: list[str]


async def prepare(runtime: Runtime, *, users: int, access_tokens: int) -> Pools:
    """Register ``users`` users and sign ``access_tokens`` tokens of distinct sessions."""
    user_rows = []
    for i in range(users):
        user_rows.append(
            await runtime.users.register(f"bench{i:03d}", PASSWORD, client=_BENCH_CLIENT)
        )
    user_ids = [u.id for u in user_rows]
    sessions = await _insert_sessions(runtime, user_ids, access_tokens)
    tokens = []
    now = dt.datetime.now(dt.UTC)
    for session in sessions:
        token, _ = await runtime.tokens.issue_access(
            user_id=session["user_id"],
            session_id=session["id"],
            roles=[],
            now=now,
            not_after=session["expires_at"],
        )
        tokens.append(token)
    bodies = [json.dumps({"username": u.username, "password": PASSWORD}) for u in user_rows]
    return Pools(user_ids=user_ids, access_tokens=tokens, login_bodies=bodies)


async def _insert_sessions(
    runtime: Runtime, user_ids: list[str], count: int
) -> list[dict[str, Any]]:
    # Shaped like SessionService.start's rows: spread over the users, 30-day cap.
    now = dt.datetime.now(dt.UTC)
    cap = now + dt.timedelta(seconds=runtime.settings.session_max_age)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "user_id": user_ids[i % len(user_ids)],
            "created_at": now,
            "last_used_at": now,
            "expires_at": cap,
            "user_agent": _BENCH_CLIENT.user_agent,
            "ip": _BENCH_CLIENT.ip,
        }
        for i in range(count)
    ]
    async with runtime.db() as db, db.begin():
        for chunk in _chunks(rows, 2000):
            await db.execute(insert(Session), chunk)
    return rows


async def refresh_batch(runtime: Runtime, user_ids: list[str], count: int) -> list[str]:
    """``count`` fresh sessions, each with one unused refresh token; their plaintexts.

    One session per token, as after ``count`` logins: a refresh then never
    contends with another on the same session, as real clients do not.
    """
    sessions = await _insert_sessions(runtime, user_ids, count)
    now = dt.datetime.now(dt.UTC)
    idle = now + dt.timedelta(seconds=runtime.settings.refresh_token_ttl)
    plains = [new_refresh_token() for _ in sessions]
    rows = [
        {
            "id": str(uuid.uuid4()),
            "session_id": s["id"],
            "token_hash": hash_refresh_token(p),
            "created_at": now,
            "expires_at": min(idle, s["expires_at"]),
        }
        for s, p in zip(sessions, plains, strict=True)
    ]
    async with runtime.db() as db, db.begin():
        for chunk in _chunks(rows, 2000):
            await db.execute(insert(RefreshToken), chunk)
    return plains


async def count_refresh_rows(runtime: Runtime) -> int:
    """Rows in ``refresh_tokens`` (refresh cost may depend on it: see the report)."""
    async with runtime.db() as db:
        return int(await db.scalar(select(func.count()).select_from(RefreshToken)) or 0)


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    # asyncpg caps one statement at 32767 bind parameters; 2000 rows x 7 stays under.
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def settings_env_summary(env: Mapping[str, str]) -> str:
    """The ``JOTGATE_*`` settings a run used, secret hidden, for the report."""
    shown = {k: ("<random>" if k == "JOTGATE_SECRET" else v) for k, v in env.items()}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if k.startswith("JOTGATE_"))
