"""refresh_tokens stays small and indexed: successor lookups use an index, dead tokens go."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from jotgate.server.models import RefreshToken, Session

from .conftest import Server, running, test_settings

pytestmark = pytest.mark.anyio


async def _refresh(server: Server, token: str) -> Any:
    return await server.client.post("/auth/refresh", json={"refresh_token": token})


async def _login(server: Server, *, signup: bool = False) -> dict[str, Any]:
    body = await (server.signup("alice") if signup else server.login("alice"))
    body["session_id"] = (await server.runtime.tokens.authenticate(body["access_token"])).sid
    return body


async def _token_count(server: Server, session_id: str) -> int:
    async with server.runtime.db() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.session_id == session_id)
        )
    return int(count or 0)


async def test_rotation_finds_the_predecessor_by_index(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as srv:
        async with srv.runtime.engine.connect() as connection:
            plan = (
                await connection.execute(
                    text(
                        "EXPLAIN QUERY PLAN UPDATE refresh_tokens SET successor_sealed = NULL "
                        "WHERE successor_id = :id"
                    ),
                    {"id": "x"},
                )
            ).all()
        details = " ".join(str(row[-1]) for row in plan)
        assert "ix_refresh_tokens_successor_id" in details, details


async def test_tokens_of_ended_sessions_are_purged_in_batches(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as srv:
        live = await _login(srv, signup=True)
        revoked = await _login(srv)
        expired = await _login(srv)
        fresh_revoked = await _login(srv)
        # Two tokens in the revoked family (one used), one in each other.
        rotated = await _refresh(srv, revoked["refresh_token"])
        assert rotated.status_code == 200
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        just_now = dt.datetime.now(dt.UTC)
        async with srv.runtime.db() as db, db.begin():
            await db.execute(
                update(Session)
                .where(Session.id == revoked["session_id"])
                .values(revoked_at=long_ago, revoked_reason="logout")
            )
            await db.execute(
                update(Session)
                .where(Session.id == expired["session_id"])
                .values(expires_at=long_ago)
            )
            # Revoked within the reuse grace window: kept for now.
            await db.execute(
                update(Session)
                .where(Session.id == fresh_revoked["session_id"])
                .values(revoked_at=just_now, revoked_reason="logout")
            )

        deleted = await srv.runtime.sessions.purge_dead_tokens(batch=1, batches=10)

        assert deleted == 3
        assert await _token_count(srv, revoked["session_id"]) == 0
        assert await _token_count(srv, expired["session_id"]) == 0
        assert await _token_count(srv, fresh_revoked["session_id"]) == 1
        assert await _token_count(srv, live["session_id"]) == 1
        # Nothing else to do; the live session still refreshes; a purged token is refused.
        assert await srv.runtime.sessions.purge_dead_tokens() == 0
        assert (await _refresh(srv, live["refresh_token"])).status_code == 200
        gone = await _refresh(srv, rotated.json()["refresh_token"])
        assert gone.status_code == 401


async def test_a_sweep_stops_after_its_batch_budget(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as srv:
        await srv.register("alice")
        ids = [(await _login(srv))["session_id"] for _ in range(3)]
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        async with srv.runtime.db() as db, db.begin():
            await db.execute(update(Session).where(Session.id.in_(ids)).values(expires_at=long_ago))
        assert await srv.runtime.sessions.purge_dead_tokens(batch=1, batches=2) == 2
        assert await srv.runtime.sessions.purge_dead_tokens(batch=1, batches=2) == 1
