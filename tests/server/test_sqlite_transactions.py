"""SQLite: write units of work take the lock up front, reads never queue behind them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from jotgate.server.models import User

from .conftest import running, test_settings

pytestmark = pytest.mark.anyio


async def test_reads_do_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as srv:
        await srv.register("alice")
        db = srv.runtime.db
        async with db() as writer, writer.begin():
            # The write lock is held from BEGIN IMMEDIATE until this block ends.
            await writer.execute(update(User).values(username="alice2"))

            async def read() -> str | None:
                async with db() as reader:
                    return await reader.scalar(select(User.username))

            # A deferred read sees the last committed snapshot at once.
            assert await asyncio.wait_for(read(), timeout=5) == "alice"
            # So does the API's own read path (the denylist, /healthz, /auth/me).
            health = await asyncio.wait_for(srv.client.get("/healthz"), timeout=5)
            assert health.status_code == 200


async def test_write_units_of_work_begin_immediate(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as srv:
        db = srv.runtime.db
        statements: list[str] = []
        engine = srv.runtime.engine.sync_engine

        from sqlalchemy import event

        def record(conn: object, cursor: object, statement: str, *args: object) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            async with db() as writer, writer.begin():
                await writer.execute(text("SELECT 1"))
            async with db() as reader:
                await reader.execute(text("SELECT 2"))
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert statements == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 2"]
