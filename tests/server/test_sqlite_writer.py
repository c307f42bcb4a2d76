"""The SQLite writer thread: group commit, per-job undo, and the values it stores."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from jotgate.server.errors import ApiError
from jotgate.server.models import Session
from jotgate.server.refresh_sqlite import db_time
from jotgate.server.sqlite_writer import SqliteWriter, WriterClosed

from .conftest import Server

pytestmark = pytest.mark.anyio


def _table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")


def _rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        return [v for (v,) in connection.execute("SELECT v FROM t ORDER BY v")]


async def test_work_runs_in_one_thread_and_returns_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _table(path)
    writer = SqliteWriter(str(path))
    writer.start()
    threads: set[int] = set()

    def insert(value: int) -> int:
        def work(connection: sqlite3.Connection) -> int:
            threads.add(threading.get_ident())
            connection.execute("INSERT INTO t VALUES (?)", (value,))
            return value * 2

        return work  # type: ignore[return-value]

    results = await asyncio.gather(*(writer.run(insert(v)) for v in range(50)))  # type: ignore[arg-type]
    assert results == [v * 2 for v in range(50)]
    # Committed before anyone was told: another connection sees every row.
    assert _rows(path) == list(range(50))
    assert len(threads) == 1
    assert threading.get_ident() not in threads
    await writer.close()


async def test_a_failing_job_undoes_only_its_own_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _table(path)
    writer = SqliteWriter(str(path))
    writer.start()
    gate = threading.Event()
    batches: list[bool] = []

    def hold(connection: sqlite3.Connection) -> None:
        gate.wait(5)  # the others queue meanwhile: one batch, one transaction
        batches.append(connection.in_transaction)

    def good(value: int):  # type: ignore[no-untyped-def]
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (value,)).rowcount

    def bad(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO t VALUES (100)")
        raise ApiError(401, "invalid_refresh_token", "no")

    held = asyncio.ensure_future(writer.run(hold))
    await asyncio.sleep(0.05)
    jobs = [
        asyncio.ensure_future(writer.run(good(1))),
        asyncio.ensure_future(writer.run(bad)),
        asyncio.ensure_future(writer.run(good(2))),
        # A duplicate key: an sqlite3 error of the job, not of the batch.
        asyncio.ensure_future(writer.run(good(1))),
    ]
    await asyncio.sleep(0.05)
    gate.set()
    await held
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ApiError)
    assert outcomes[1].code == "invalid_refresh_token"
    assert outcomes[2] == 1
    assert isinstance(outcomes[3], sqlite3.IntegrityError)
    assert _rows(path) == [1, 2]
    assert batches == [True]
    await writer.close()


async def test_a_cancelled_caller_does_not_break_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _table(path)
    writer = SqliteWriter(str(path))
    writer.start()
    gate = threading.Event()
    held = asyncio.ensure_future(writer.run(lambda c: gate.wait(5)))
    await asyncio.sleep(0.05)
    gone = asyncio.ensure_future(writer.run(lambda c: c.execute("INSERT INTO t VALUES (7)")))
    kept = asyncio.ensure_future(writer.run(lambda c: c.execute("INSERT INTO t VALUES (8)")))
    await asyncio.sleep(0.01)
    gone.cancel()
    gate.set()
    await held
    await kept
    # The work of a caller that went away still ran (like a request whose client hung up).
    assert _rows(path) == [7, 8]
    await writer.close()


async def test_a_closed_writer_refuses_work(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _table(path)
    writer = SqliteWriter(str(path))
    with pytest.raises(WriterClosed):
        await writer.run(lambda c: None)
    writer.start()
    await writer.close()
    with pytest.raises(WriterClosed):
        await writer.run(lambda c: None)


async def test_an_unopenable_database_fails_at_start(tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "missing-dir" / "w.db"))
    with pytest.raises(sqlite3.OperationalError):
        writer.start()


async def test_times_are_stored_as_the_orm_stores_them(server: Server) -> None:
    await server.signup()
    async with server.runtime.db() as db:
        session = await db.scalar(select(Session))
    assert session is not None
    url = server.runtime.engine.url.database
    assert url is not None
    with sqlite3.connect(url) as connection:
        (raw,) = connection.execute(
            "SELECT created_at FROM sessions WHERE id = ?", (session.id,)
        ).fetchone()
    assert raw == db_time(session.created_at)
    # Any aware time, any zone, whole seconds included (no microseconds dropped).
    whole = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert db_time(whole) == "2030-01-01 18:04:05.000000"


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 14, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-9))),
        dt.datetime(2026, 6, 1, 0, 0, 0, 500000, tzinfo=dt.timezone(dt.timedelta(minutes=330))),
    ],
)
def test_db_time_is_sqlalchemys_own_sqlite_text(when: dt.datetime) -> None:
    # The fast formatting must match what SQLAlchemy writes and compares against.
    to_text = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert to_text is not None
    assert db_time(when) == to_text(when.astimezone(dt.UTC).replace(tzinfo=None))


async def test_the_writer_waits_for_another_connections_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _table(path)
    writer = SqliteWriter(str(path))
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    job = asyncio.ensure_future(writer.run(lambda c: c.execute("INSERT INTO t VALUES (2)")))
    await asyncio.sleep(0.1)
    assert not job.done()  # still waiting for the lock, not failed
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(job, 5)
    assert _rows(path) == [1, 2]
    await writer.close()


async def test_a_lock_held_too_long_fails_the_batch_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _table(path)
    writer = SqliteWriter(str(path), lock_timeout=0.2)
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError):
        await writer.run(lambda c: c.execute("INSERT INTO t VALUES (2)"))
    other.execute("ROLLBACK")
    other.close()
    assert _rows(path) == []
    # And the writer still works once the lock is free.
    await writer.run(lambda c: c.execute("INSERT INTO t VALUES (3)"))
    assert _rows(path) == [3]
    await writer.close()
