"""Engine creation and schema migration for SQLite (embedded) and PostgreSQL (shared).

Units of work that write open their transaction explicitly
(``async with sessions() as db, db.begin():``); on SQLite those start with
``BEGIN IMMEDIATE``, taking the write lock up front, so a
read-then-conditional-write (refresh token rotation) can never hit SQLite's
"cannot upgrade a read lock" deadlock, and concurrent writers queue on
``busy_timeout`` instead of failing. Reads let the session begin by itself
(autobegin, no ``db.begin()``) and get a plain deferred ``BEGIN``: in WAL mode
they read a snapshot and never wait for a writer. A session without
``db.begin()`` therefore must not write (it is never committed anyway).
"""

from __future__ import annotations

import logging
from importlib.resources import files
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as DbSession
from sqlalchemy.orm import Session, SessionTransactionOrigin

__all__ = ["DbSession", "create_engine", "migrate", "serialize", "session_factory"]

log = logging.getLogger("jotgate.server")

# Any fixed number: serialises concurrent migrations of processes sharing one PostgreSQL.
_MIGRATION_LOCK_ID: Final = 0x6A6F7467
#: Execution option of the engine that read-only (autobegun) sessions use.
_READ_ONLY: Final = "jotgate_read_only"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``, with the SQLite locking set-up described above."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class _UnitOfWorkSession(Session):
    """Explicit ``begin()``: the write engine; autobegin (reads): the read-only one."""

    def get_bind(self, mapper: Any = None, **kw: Any) -> Engine | Connection:
        bind = super().get_bind(mapper, **kw)
        transaction = self.get_transaction()
        writes = transaction is not None and transaction.origin is not (
            SessionTransactionOrigin.AUTOBEGIN
        )
        reader = self.info.get(_READ_ONLY)
        if writes or reader is None or bind is not reader["write"]:
            return bind
        engine: Engine = reader["read"]
        return engine


async def serialize(db: DbSession, lock_id: int) -> None:
    """Inside ``db``'s transaction: wait until no other transaction holds ``lock_id``.

    For read-then-insert decisions that a unique constraint cannot guard
    (e.g. "is there an active key?"). PostgreSQL: a transaction-scoped
    advisory lock, released at commit. SQLite: nothing to do, every
    write transaction (``db.begin()``) already holds the database's write lock
    (``BEGIN IMMEDIATE``).
    """
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def session_factory(engine: AsyncEngine) -> async_sessionmaker[DbSession]:
    """Sessions that keep loaded objects usable after commit.

    ``db.begin()`` units of work write (``BEGIN IMMEDIATE`` on SQLite); autobegun
    sessions read (deferred ``BEGIN``), see the module docstring.
    """
    read = engine.sync_engine.execution_options(**{_READ_ONLY: True})
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        sync_session_class=_UnitOfWorkSession,
        info={_READ_ONLY: {"write": engine.sync_engine, "read": read}},
    )


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("jotgate.server") / "migrations"))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Released at commit; a second process waits, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(_alembic_config(connection), "head")
    after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        # The one migration line worth an operator's attention (Alembic's own are quieter).
        log.info("database schema upgraded from %s to revision %s", before or "empty", after)


async def migrate(engine: AsyncEngine) -> None:
    """Create or upgrade the schema to the newest revision, inside one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
