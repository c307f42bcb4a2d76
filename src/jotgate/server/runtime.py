"""Everything a running server holds: engine, Redis, keys, services. Built once per process.

Used by the app's lifespan and by the ``jotgate user`` commands alike, so the
CLI changes accounts through exactly the code the HTTP API uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jotgate import dpop

from .database import create_engine, migrate, session_factory
from .denylist import DatabaseDenylist, Denylist, DenylistStore, RedisDenylist
from .dpop_server import DatabaseReplayCache, DPoPService
from .keystore import KeyStore, server_sealer, server_secret
from .logins import LoginService
from .passwords import PasswordService
from .refresh_pg import PgRotations, asyncpg_dsn
from .revocation_feed import follow_feed
from .revocation_feed import purge_expired as purge_feed
from .sessions import SessionService
from .settings import Settings
from .sqlite_writer import SqliteWriter
from .throttle import LoginThrottle, ThrottlePolicy
from .throttle_stores import DatabaseThrottleStore, RedisThrottleStore, ThrottleStore
from .token_encryption import EncryptionKeys, open_encryption_keys
from .tokens import TokenService
from .users import UserService

__all__ = ["Runtime", "open_runtime"]

log = logging.getLogger("jotgate.server")

_HOUSEKEEPING_SECONDS = 30.0


@dataclass
class Runtime:
    """The process-wide objects; close with :meth:`close`."""

    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    redis: Any
    keys: KeyStore
    encryption: EncryptionKeys | None
    denylist: Denylist
    passwords: PasswordService
    tokens: TokenService
    sessions: SessionService
    users: UserService
    throttle: LoginThrottle
    logins: LoginService
    dpop: DPoPService
    #: HMAC key of the cookie-mode CSRF values (:mod:`.transport`); the same in every process.
    csrf_key: bytes = b""  # set by open_runtime
    #: SQLite only: the thread that runs refresh rotations (:mod:`.sqlite_writer`).
    sqlite_writer: SqliteWriter | None = None
    #: PostgreSQL only: the asyncpg pool refresh rotations run on (:mod:`.refresh_pg`).
    pg_rotations: PgRotations | None = None
    _housekeeping: asyncio.Task[None] | None = None

    def start_housekeeping(self) -> None:
        """Periodically wipe expired grace data, refresh tokens of ended sessions and
        denylist rows (every process may do it)."""
        self._housekeeping = asyncio.create_task(self._housekeep())

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(_HOUSEKEEPING_SECONDS)
            try:
                await self.sessions.wipe_expired_grace()
                await self.sessions.purge_dead_tokens()
                if isinstance(self.denylist.store, DatabaseDenylist):
                    await self.denylist.store.purge_expired()
                await purge_feed(self.db)
                if isinstance(self.throttle.store, DatabaseThrottleStore):
                    await self.throttle.store.purge_expired(self.throttle.clock())
                if isinstance(self.dpop.replay, DatabaseReplayCache):
                    await self.dpop.replay.purge_expired()
            except Exception:  # a DB hiccup must not kill the loop
                log.warning("housekeeping failed; will retry", exc_info=True)

    async def close(self) -> None:
        """Stop background work, close pools and threads."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        self.passwords.close()
        if self.sqlite_writer is not None:
            await self.sqlite_writer.close()
        if self.pg_rotations is not None:
            await self.pg_rotations.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


async def _connect_redis(url: str) -> Any:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.from_url(url)
    await client.ping()  # fail at start-up, not on the first logout
    return client


async def open_runtime(settings: Settings) -> Runtime:
    """Connect, migrate (unless disabled), load or create keys, build the services."""
    if settings.secret is None:
        log.warning(
            "JOTGATE_SECRET is not set: signing keys are stored unencrypted in the database"
        )
    if settings.argon2_below_owasp:
        log.warning("argon2 parameters are below the OWASP minimum; fine for tests only")
    engine = create_engine(settings.database_url)
    redis = None
    try:
        if settings.migrate:
            await migrate(engine)
        db = session_factory(engine)
        redis = await _connect_redis(settings.redis_url) if settings.redis_url else None
        store: DenylistStore = RedisDenylist(redis) if redis is not None else DatabaseDenylist(db)
        denylist = Denylist(
            store,
            negative_ttl=settings.denylist_cache_seconds,
            # In the database: follow the revocation feed, one query a second.
            feed=partial(follow_feed, db) if redis is None else None,
        )
        keys = KeyStore(
            db,
            alg=settings.signing_alg,
            secret=settings.secret,
            # A replaced key verifies until its last token expires, plus leeway.
            retain_for=settings.access_token_ttl + 60,
        )
        await keys.start()
        encryption = await open_encryption_keys(settings, db)
        sealer = await server_sealer(db, purpose="refresh-successor", secret=settings.secret)
        nonces = None
        if settings.dpop_nonce:
            # Every process derives the same secret, so a nonce from one is good at all.
            nonce_secret = await server_secret(db, purpose="dpop-nonce", secret=settings.secret)
            nonces = dpop.NonceSource(nonce_secret)
        # Cookie mode's CSRF values (always derived: never an empty HMAC key).
        csrf_key = await server_secret(db, purpose="csrf", secret=settings.secret)
        passwords = PasswordService(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            max_queued=settings.argon2_max_queue,
        )
    except BaseException:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
        raise
    tokens = TokenService(settings, keys, denylist, encryption)
    writer = _sqlite_writer(engine)
    pg_rotations = await _pg_rotations(engine)
    sessions = SessionService(settings, db, tokens, denylist, sealer, writer, pg_rotations)
    users = UserService(db, passwords, sessions)
    throttle_store: ThrottleStore = (
        RedisThrottleStore(redis) if redis is not None else DatabaseThrottleStore(db)
    )
    throttle = LoginThrottle(throttle_store, ThrottlePolicy.from_settings(settings))
    replay: dpop.AsyncReplayCache = (
        dpop.AsyncRedisReplayCache(redis) if redis is not None else DatabaseReplayCache(db)
    )
    return Runtime(
        settings=settings,
        engine=engine,
        db=db,
        redis=redis,
        keys=keys,
        encryption=encryption,
        denylist=denylist,
        passwords=passwords,
        tokens=tokens,
        sessions=sessions,
        users=users,
        throttle=throttle,
        logins=LoginService(users, throttle, db),
        dpop=DPoPService(settings, replay, nonces),
        csrf_key=csrf_key,
        sqlite_writer=writer,
        pg_rotations=pg_rotations,
    )


async def _pg_rotations(engine: AsyncEngine) -> PgRotations | None:
    """An asyncpg pool for refresh rotations when the database is PostgreSQL via asyncpg."""
    if engine.url.get_backend_name() != "postgresql" or engine.url.get_driver_name() != "asyncpg":
        return None
    rotations = PgRotations(asyncpg_dsn(engine.url))
    await rotations.start()
    return rotations


def _sqlite_writer(engine: AsyncEngine) -> SqliteWriter | None:
    """A writer thread for a SQLite database file; None for PostgreSQL or in-memory SQLite."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:") or url.query:
        return None  # one connection's private database, or options only the engine knows
    writer = SqliteWriter(path)
    writer.start()
    return writer
