"""Signing and encryption keys and server secrets kept in the database, shared by every process.

The first process to start generates the key. Processes starting at once
decide "is there an active key?" one after the other (an advisory lock on
PostgreSQL, SQLite's write lock), so exactly one key is made and the others
load it. Private JWKs are sealed with a key derived from ``SECRET`` when it
is set. Each process caches the key set and reloads it when a token names a
``kid`` it does not know (another process rotated) or after
:data:`RELOAD_SECONDS`.

Rotation is staged, so no verifier ever meets a kid it cannot know:

* a rotated-in key is published in the JWKS at once but signs only from
  ``activates_at`` (``KEY_ACTIVATION_DELAY`` later, longer than verifiers
  cache the JWKS);
* the key it replaces stops signing then, and stays published (and
  verifying) until every token it signed has expired: ``retain_for`` (the
  access-token lifetime plus a minute of leeway) after it was replaced.

Encryption keys (:data:`ENCRYPTION`) live the same life in their own table:
a new one is exported to verifiers before it encrypts, and a replaced one
decrypts until the tokens encrypted to it have expired. See
:mod:`.keystates` for the states.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jotgate import jwk

from . import audit
from .database import serialize
from .keystates import KeyState, activates, key_states
from .models import EncryptionKey, KeyRow, ServerSecret, SigningKey
from .sealing import Sealer, SealError

__all__ = [
    "ENCRYPTION",
    "SIGNING",
    "KeyKind",
    "KeyState",
    "KeyStore",
    "KeyStoreError",
    "LoadedKeys",
    "alg_in_use",
    "key_states",
    "server_sealer",
    "server_secret",
]

RELOAD_SECONDS: Final = 60.0
_UNKNOWN_KID_COOLDOWN: Final = 1.0


class KeyStoreError(RuntimeError):
    """Keys cannot be loaded (for example: sealed, but SECRET is unset or wrong)."""


def _signing_key(alg: str) -> jwk.Key:
    # An HMAC key has no thumbprint we would publish: give it a random kid.
    return jwk.Key.generate(alg, kid=uuid.uuid4().hex if alg.startswith("HS") else None)


def _encryption_key(alg: str) -> jwk.Key:
    if alg == "dir":
        secret = jwk.Key.from_secret(secrets.token_bytes(32), alg="dir", kid=uuid.uuid4().hex)
        members = secret.to_jwk(private=True)
    else:
        agreement = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), alg=alg)
        members = agreement.to_jwk(private=True)
    # use: enc makes sure the key can never sign or verify anything.
    return jwk.Key.from_jwk({**members, "use": "enc"})


@dataclass(frozen=True)
class KeyKind:
    """What a store holds: its table, how keys are made, how they are sealed."""

    model: type[SigningKey] | type[EncryptionKey]
    noun: str
    purpose: str
    generate: Callable[[str], jwk.Key]
    symmetric: Callable[[str], bool]
    #: A fixed advisory-lock number per kind, distinct from the server's others.
    lock_id: int


SIGNING: Final = KeyKind(
    SigningKey, "signing key", "signing-key", _signing_key, lambda a: a.startswith("HS"), 0x6A6F746B
)
ENCRYPTION: Final = KeyKind(
    EncryptionKey,
    "encryption key",
    "encryption-key",
    _encryption_key,
    lambda a: a == "dir",
    0x6A6F7465,
)


@dataclass(frozen=True)
class LoadedKeys:
    """One consistent snapshot: the key in use now and every key still accepted.

    For signing keys: ``signing`` signs, ``verifying`` verifies. For
    encryption keys: ``signing`` is the key tokens are encrypted to, and
    ``verifying`` the keys that decrypt.
    """

    signing: jwk.Key
    verifying: jwk.KeySet
    algorithms: tuple[str, ...]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _all_rows(db: AsyncSession, kind: KeyKind) -> list[KeyRow]:
    rows = (await db.scalars(select(kind.model))).all()
    # Both tables are KeyRow tables; SQLAlchemy types a union of models as Base.
    return cast(list[KeyRow], list(rows))


class KeyStore:
    """Loads, creates, rotates and caches the server's keys of one kind."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        alg: str,
        secret: str | None,
        retain_for: float = 15 * 60 + 60,
        kind: KeyKind = SIGNING,
    ) -> None:
        self._sessions = sessions
        self._alg = alg
        self._kind = kind
        self._model = kind.model
        self._retain_for = retain_for
        self._rows: list[KeyRow] = []
        self._opened: dict[str, jwk.Key] = {}
        self._valid_until = 0.0
        self._sealer = Sealer.from_secret(secret, purpose=kind.purpose) if secret else None
        self._loaded: LoadedKeys | None = None
        self._loaded_at = 0.0
        self._last_unknown_kid_reload = 0.0

    @property
    def alg(self) -> str:
        """The algorithm new keys are made for."""
        return self._alg

    async def start(self) -> LoadedKeys:
        """Make sure a key for the configured algorithm is active; load all keys."""
        async with self._sessions() as db, db.begin():
            await serialize(db, self._kind.lock_id)
            rows = await _all_rows(db, self._kind)
            now = _now()
            states = key_states(rows, alg=self._alg, retain_for=self._retain_for, now=now)
            if not any(k.state == "active" and k.alg == self._alg for k in states):
                await self._insert_new_key(db, activates_at=now)
        return await self.reload()

    async def rotate(self, *, activate_after: float = 0) -> str:
        """Add a key that takes over ``activate_after`` seconds from now (published at once).

        The current key stays in use until then, and accepted until its
        tokens have expired. Returns the new kid.
        """
        activates_at = _now() + dt.timedelta(seconds=activate_after)
        async with self._sessions() as db, db.begin():
            stored = (await db.scalars(select(self._model.encrypted))).all()
            if any(sealed != (self._sealer is not None) for sealed in stored):
                # A key sealed differently from the others would stop every
                # server that opens them all (an operator ran this without SECRET).
                raise KeyStoreError(
                    "the stored keys are "
                    + (
                        "sealed: set JOTGATE_SECRET"
                        if any(stored)
                        else "not sealed: unset JOTGATE_SECRET"
                    )
                    + " as the server has it"
                )
            kid = await self._insert_new_key(db, activates_at=activates_at)
            audit.record(
                db,
                "key_rotated",
                kid=kid,
                alg=self._alg,
                use="enc" if self._kind is ENCRYPTION else "sig",
                activates_at=activates_at.isoformat(),
            )
        await self.reload()
        return kid

    async def states(self) -> list[KeyState]:
        """Every stored key (any algorithm) and its state now, newest first."""
        async with self._sessions() as db:
            rows = await _all_rows(db, self._kind)
        return key_states(rows, alg=self._alg, retain_for=self._retain_for, now=_now())

    async def _insert_new_key(self, db: AsyncSession, *, activates_at: dt.datetime) -> str:
        key = self._kind.generate(self._alg)
        assert key.kid is not None
        private = json.dumps(key.to_jwk(private=True)).encode()
        public: dict[str, Any] = {} if key.is_symmetric else key.to_jwk(private=False)
        row = self._model(
            kid=key.kid,
            alg=self._alg,
            private_jwk=self._sealer.seal(private) if self._sealer else private,
            encrypted=self._sealer is not None,
            public_jwk=public,
            created_at=_now(),
            active=True,
            activates_at=activates_at,
        )
        try:
            async with db.begin_nested():
                db.add(row)
        except IntegrityError:
            # The same kid exists already (a key imported twice): it is as good as ours.
            pass
        return key.kid

    def _open(self, row: KeyRow) -> jwk.Key:
        raw = row.private_jwk
        noun = self._kind.noun
        if row.encrypted:
            if self._sealer is None:
                raise KeyStoreError(
                    f"{noun} {row.kid} is encrypted: set JOTGATE_SECRET to the value "
                    "it was created with"
                )
            try:
                raw = self._sealer.open(raw)
            except SealError:
                raise KeyStoreError(
                    f"{noun} {row.kid} does not open with this JOTGATE_SECRET"
                ) from None
        return jwk.Key.from_jwk(raw)

    async def reload(self) -> LoadedKeys:
        """Read every key of the configured family from the database."""
        async with self._sessions() as db:
            rows = await _all_rows(db, self._kind)
        symmetric = self._kind.symmetric
        family: list[KeyRow] = [r for r in rows if symmetric(r.alg) == symmetric(self._alg)]
        # Private keys are opened once per process (sealed keys cost a decryption).
        self._opened = {r.kid: self._opened.get(r.kid) or self._open(r) for r in family}
        self._rows = family
        self._loaded_at = time.monotonic()
        return self._snapshot()

    def _snapshot(self) -> LoadedKeys:
        now = _now()
        states = key_states(self._rows, alg=self._alg, retain_for=self._retain_for, now=now)
        signer = next((k for k in states if k.state == "active" and k.alg == self._alg), None)
        if signer is None:
            raise KeyStoreError(f"no active {self._alg} {self._kind.noun} in the database")
        published = [k for k in states if k.state != "retired"]
        loaded = LoadedKeys(
            signing=self._opened[signer.kid],
            verifying=jwk.KeySet([self._opened[k.kid] for k in published]),
            algorithms=tuple(sorted({k.alg for k in published})),
        )
        # The snapshot holds until the next scheduled change of any key's state.
        changes = [k.activates_at for k in states if k.activates_at > now]
        changes += [k.retires_at for k in states if k.retires_at and k.retires_at > now]
        self._valid_until = min(changes).timestamp() if changes else float("inf")
        self._loaded = loaded
        return loaded

    async def current(self) -> LoadedKeys:
        """The cached keys, reloaded when older than :data:`RELOAD_SECONDS`."""
        if self._loaded is None or time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            return await self.reload()
        if time.time() >= self._valid_until:
            return self._snapshot()
        return self._loaded

    async def after_unknown_kid(self) -> LoadedKeys | None:
        """Reload because a token named a kid we lack; at most once per cooldown."""
        now = time.monotonic()
        if now - self._last_unknown_kid_reload < _UNKNOWN_KID_COOLDOWN:
            return None
        self._last_unknown_kid_reload = now
        return await self.reload()

    async def accepted(self) -> jwk.KeySet:
        """Every key not yet retired, read from the database now (for exports)."""
        return (await self.reload()).verifying

    async def public_jwks(self) -> dict[str, Any]:
        """The JWK Set of public keys to publish (empty for HMAC, which has none).

        Read from the database on every call, so a key rotated in by another
        process (or ``jotgate keys rotate``) is published at once. The query is
        small, opened keys are cached, and clients cache the document anyway.
        """
        await self.reload()
        loaded = await self.current()
        if loaded.signing.is_symmetric:
            return {"keys": []}
        return loaded.verifying.to_jwks(private=False)


async def alg_in_use(
    sessions: async_sessionmaker[AsyncSession], kind: KeyKind = SIGNING
) -> str | None:
    """The algorithm of the key in use now (what the servers are configured with)."""
    async with sessions() as db:
        rows = await _all_rows(db, kind)
    now = _now()
    live = [r for r in rows if r.active and r.retired_at is None and activates(r) <= now]
    return max(live, key=activates).alg if live else None


async def server_secret(
    sessions: async_sessionmaker[AsyncSession], *, purpose: str, secret: str | None
) -> bytes:
    """32 bytes for ``purpose`` that every process agrees on.

    Derived from SECRET when it is set; else a random value stored once in
    the database (which then lives next to what it protects; the start-up
    warning says so).
    """
    if secret:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"jotgate server secret v1",
            info=purpose.encode(),
        ).derive(secret.encode())  # fmt: skip
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
        return row.value


async def server_sealer(
    sessions: async_sessionmaker[AsyncSession], *, purpose: str, secret: str | None
) -> Sealer:
    """A sealer for ``purpose``: from SECRET when set, else from a random key in the DB.

    Without SECRET the random key lives next to the data it protects, which
    only helps against leaks of single columns; the start-up warning says so.
    """
    if secret:
        return Sealer.from_secret(secret, purpose=purpose)
    return Sealer.from_secret(
        await server_secret(sessions, purpose=purpose, secret=None), purpose=purpose
    )
