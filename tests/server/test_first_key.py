"""The first signing key is made exactly once, however many servers start at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jotgate.server.models import SigningKey
from jotgate.server.runtime import Runtime, open_runtime

from .conftest import test_settings

pytestmark = pytest.mark.anyio

STARTS = 4


async def _start_together(tmp_path: Path, database_url: str) -> list[Runtime]:
    settings = test_settings(tmp_path, database_url=database_url)
    # Migrate first, as a deployment does: the race under test is key creation.
    first = await open_runtime(settings)
    async with first.db() as db, db.begin():
        await db.execute(SigningKey.__table__.delete())
    await first.close()
    fresh = settings.replace(migrate=False)
    return list(await asyncio.gather(*(open_runtime(fresh) for _ in range(STARTS))))


async def _assert_one_key(runtimes: list[Runtime]) -> None:
    try:
        async with runtimes[0].db() as db:
            count = await db.scalar(select(func.count()).select_from(SigningKey))
        assert count == 1
        kids = {(await r.keys.current()).signing.kid for r in runtimes}
        assert len(kids) == 1
    finally:
        for runtime in runtimes:
            await runtime.close()


async def test_servers_starting_at_once_on_postgres_make_one_first_key(
    tmp_path: Path, pg_url: str
) -> None:
    for _ in range(3):  # a race lost once in a while would still show
        await _assert_one_key(await _start_together(tmp_path, pg_url))


async def test_servers_starting_at_once_on_sqlite_make_one_first_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    await _assert_one_key(await _start_together(tmp_path, url))
