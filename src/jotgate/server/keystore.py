"""Signing keys and server secrets kept in the database, shared by every process.

The first process to start generates the signing key; others that race it
lose on the primary key and load the winner's. Private JWKs are sealed with
a key derived from ``SECRET`` when it is set. Each process caches the key set
and reloads it when a token names a ``kid`` it does not know (another process
rotated) or after :data:`RELOAD_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jotgate import jwk

from . import audit
from .models import ServerSecret, SigningKey
from .sealing import Sealer, SealError

__all__ = ["KeyStore", "KeyStoreError", "LoadedKeys", "server_sealer"]

RELOAD_SECONDS: Final = 60.0
_UNKNOWN_KID_COOLDOWN: Final = 1.0


class KeyStoreError(RuntimeError):
    """Keys cannot be loaded (for example: sealed, but SECRET is unset or wrong)."""


@dataclass(frozen=True)
class LoadedKeys:
    """One consistent snapshot: the key that signs and the set that verifies."""

    signing: jwk.Key
    verifying: jwk.KeySet
    algorithms: tuple[str, ...]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _symmetric(alg: str) -> bool:
    return alg.startswith("HS")


class KeyStore:
    """Loads, creates, rotates and caches the server's signing keys."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, alg: str, secret: str | None
    ) -> None:
        self._sessions = sessions
        self._alg = alg
        self._sealer = Sealer.from_secret(secret, purpose="signing-key") if secret else None
        self._loaded: LoadedKeys | None = None
        self._loaded_at = 0.0
        self._last_unknown_kid_reload = 0.0

    async def start(self) -> LoadedKeys:
        """Make sure an active key for the configured algorithm exists; load all keys."""
        async with self._sessions() as db, db.begin():
            found = await db.scalar(
                select(SigningKey).where(SigningKey.alg == self._alg, SigningKey.active)
            )
            if found is None:
                await self._insert_new_key(db)
        return await self.reload()

    async def rotate(self) -> str:
        """Generate a new active key; older keys keep verifying until retired. Returns its kid."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(SigningKey).where(SigningKey.alg == self._alg).values(active=False)
            )
            kid = await self._insert_new_key(db)
            audit.record(db, "key_rotated", kid=kid, alg=self._alg)
        await self.reload()
        return kid

    async def _insert_new_key(self, db: AsyncSession) -> str:
        kid = uuid.uuid4().hex if _symmetric(self._alg) else None
        key = jwk.Key.generate(self._alg, kid=kid)
        assert key.kid is not None
        private = json.dumps(key.to_jwk(private=True)).encode()
        public: dict[str, Any] = {} if key.is_symmetric else key.to_jwk(private=False)
        row = SigningKey(
            kid=key.kid,
            alg=self._alg,
            private_jwk=self._sealer.seal(private) if self._sealer else private,
            encrypted=self._sealer is not None,
            public_jwk=public,
            created_at=_now(),
            active=True,
        )
        try:
            async with db.begin_nested():
                db.add(row)
        except IntegrityError:
            # Another process inserted the same kid first: theirs is as good as ours.
            pass
        return key.kid

    def _open(self, row: SigningKey) -> jwk.Key:
        raw = row.private_jwk
        if row.encrypted:
            if self._sealer is None:
                raise KeyStoreError(
                    f"signing key {row.kid} is encrypted: set JOTGATE_SECRET to the value "
                    "it was created with"
                )
            try:
                raw = self._sealer.open(raw)
            except SealError:
                raise KeyStoreError(
                    f"signing key {row.kid} does not open with this JOTGATE_SECRET"
                ) from None
        return jwk.Key.from_jwk(raw)

    async def reload(self) -> LoadedKeys:
        """Read every unretired key of the configured family from the database."""
        async with self._sessions() as db:
            rows = (
                await db.scalars(
                    select(SigningKey)
                    .where(SigningKey.retired_at.is_(None))
                    .order_by(SigningKey.created_at.desc())
                )
            ).all()
        family = [r for r in rows if _symmetric(r.alg) == _symmetric(self._alg)]
        keys = [self._open(r) for r in family]
        active = [k for k, r in zip(keys, family, strict=True) if r.active and r.alg == self._alg]
        if not active:
            raise KeyStoreError(f"no active {self._alg} signing key in the database")
        loaded = LoadedKeys(
            signing=active[0],
            verifying=jwk.KeySet(keys),
            algorithms=tuple(sorted({r.alg for r in family})),
        )
        self._loaded, self._loaded_at = loaded, time.monotonic()
        return loaded

    async def current(self) -> LoadedKeys:
        """The cached keys, reloaded when older than :data:`RELOAD_SECONDS`."""
        if self._loaded is None or time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            return await self.reload()
        return self._loaded

    async def after_unknown_kid(self) -> LoadedKeys | None:
        """Reload because a token named a kid we lack; at most once per cooldown."""
        now = time.monotonic()
        if now - self._last_unknown_kid_reload < _UNKNOWN_KID_COOLDOWN:
            return None
        self._last_unknown_kid_reload = now
        return await self.reload()

    async def public_jwks(self) -> dict[str, Any]:
        """The JWK Set of public keys to publish (empty for HMAC, which has none)."""
        loaded = await self.current()
        if loaded.signing.is_symmetric:
            return {"keys": []}
        return loaded.verifying.to_jwks(private=False)


async def server_sealer(
    sessions: async_sessionmaker[AsyncSession], *, purpose: str, secret: str | None
) -> Sealer:
    """A sealer for ``purpose``: from SECRET when set, else from a random key in the DB.

    Without SECRET the random key lives next to the data it protects, which
    only helps against leaks of single columns; the start-up warning says so.
    """
    if secret:
        return Sealer.from_secret(secret, purpose=purpose)
    async with sessions() as db, db.begin():
        row = await db.get(ServerSecret, purpose)
        if row is None:
            row = ServerSecret(name=purpose, value=secrets.token_bytes(32), created_at=_now())
            try:
                async with db.begin_nested():
                    db.add(row)
            except IntegrityError:
                row = await db.get(ServerSecret, purpose, populate_existing=True)
                assert row is not None
        return Sealer.from_secret(row.value, purpose=purpose)
