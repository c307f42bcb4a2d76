"""Refresh is a handful of Core statements, and rotation ends the predecessor's grace."""

from __future__ import annotations

import base64
import string
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from jotgate.server import Settings
from jotgate.server.models import RefreshToken
from jotgate.server.sessions import hash_refresh_token
from jotgate.server.tokens import new_refresh_token

from .conftest import Server, running, test_settings

pytestmark = pytest.mark.anyio


async def _refresh(server: Server, token: str) -> Any:
    return await server.client.post("/auth/refresh", json={"refresh_token": token})


async def _row(server: Server, token: str) -> RefreshToken:
    async with server.runtime.db() as db:
        row = await db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
        )
    assert row is not None
    return row


def _recorder(engine: Any) -> tuple[list[str], Any]:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    return statements, record


async def _statements_of_a_refresh(
    settings: Settings, *, fast_path: bool = True
) -> tuple[list[str], Server]:
    async with running(settings) as srv:
        tokens = await srv.signup()
        await srv.runtime.tokens.warm()
        if not fast_path:
            # As with a driver that has no fast path (say psycopg): the Core path.
            srv.runtime.sessions._writer = None
            srv.runtime.sessions._pg = None
        engine = srv.runtime.engine.sync_engine
        statements, record = _recorder(engine)
        try:
            response = await _refresh(srv, tokens["refresh_token"])
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200, response.text
        again = await _refresh(srv, response.json()["refresh_token"])
        assert again.status_code == 200, again.text
        return statements, srv


async def test_the_general_path_takes_five_statements_in_one_transaction(
    tmp_path: Path, pg_url: str
) -> None:
    statements, _ = await _statements_of_a_refresh(
        test_settings(tmp_path, database_url=pg_url), fast_path=False
    )
    # Denylist lookups of other requests aside, the rotation itself (asyncpg's
    # BEGIN is not a cursor statement):
    assert statements == ["SELECT", "UPDATE", "INSERT", "UPDATE", "INSERT"]


async def test_on_postgresql_a_refresh_goes_through_asyncpg_directly(
    tmp_path: Path, pg_url: str
) -> None:
    statements, srv = await _statements_of_a_refresh(test_settings(tmp_path, database_url=pg_url))
    assert srv.runtime.pg_rotations is not None
    assert srv.runtime.sqlite_writer is None
    # Nothing through SQLAlchemy: the rotation ran on the rotations' own pool.
    assert statements == []


async def test_on_sqlite_a_refresh_goes_through_the_writer_thread(tmp_path: Path) -> None:
    statements, srv = await _statements_of_a_refresh(test_settings(tmp_path))
    assert srv.runtime.sqlite_writer is not None
    assert srv.runtime.pg_rotations is None
    # Nothing through the async engine: the rotation ran on the writer's connection.
    assert statements == []


async def test_rotation_wipes_the_predecessors_sealed_successor(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as srv:
        first = await srv.signup()
        second = (await _refresh(srv, first["refresh_token"])).json()
        assert (await _row(srv, first["refresh_token"])).successor_sealed is not None
        third = await _refresh(srv, second["refresh_token"])
        assert third.status_code == 200
        wiped = await _row(srv, first["refresh_token"])
        assert wiped.successor_sealed is None
        assert wiped.used_at is not None
        middle = await _row(srv, second["refresh_token"])
        assert middle.used_at is not None
        assert middle.successor_sealed is not None
        # The first token is past its grace now: reusing it revokes the family.
        reuse = await _refresh(srv, first["refresh_token"])
        assert reuse.status_code == 401
        assert reuse.json()["error"] == "token_revoked"


def test_refresh_tokens_are_256_bits_base64url_whether_drawn_here_or_given() -> None:
    drawn = new_refresh_token()
    assert len(drawn) == 43
    assert set(drawn) <= set(string.ascii_letters + string.digits + "-_")
    given = bytes(range(32))
    assert new_refresh_token(given) == base64.urlsafe_b64encode(given).decode().rstrip("=")
    assert new_refresh_token(given) != new_refresh_token(bytes(32))
    with pytest.raises(ValueError, match="32 bytes"):
        new_refresh_token(bytes(16))
