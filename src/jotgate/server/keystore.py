"""Signing keys and server secrets kept in the database, shared by every process.

The first process to start generates the signing key. Processes starting at
once decide "is there an active key?" one after the other (an advisory lock
on PostgreSQL, SQLite's write lock), so exactly one key is made and the
others load it. Private JWKs are sealed with
a key derived from ``SECRET`` when it is set. Each process caches the key set
and reloads it when a token names a ``kid`` it does not know (another process
rotated) or after :data:`RELOAD_SECONDS`.

Rotation is staged, so no verifier ever meets a kid it cannot know:

* a rotated-in key is published in the JWKS at once but signs only from
  ``activates_at`` (``KEY_ACTIVATION_DELAY`` later, longer than verifiers
  cache the JWKS);
* the key it replaces stops signing then, and stays published (and
  verifying) until every token it signed has expired: ``retain_for`` (the
  access-token lifetime plus a minute of leeway) after it was replaced.

The states (:func:`key_states`): ``pending`` -> ``active`` -> ``retiring`` ->
``retired``. They are computed from the stored times, so every process
switches keys at the same moment without talking to the others.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jotgate import jwk

from . import audit
from .database import serialize
from .models import ServerSecret, SigningKey
from .sealing import Sealer, SealError

__all__ = [
    "KeyState",
    "KeyStore",
    "KeyStoreError",
    "LoadedKeys",
    "alg_in_use",
    "key_states",
    "server_sealer",
]

RELOAD_SECONDS: Final = 60.0
# Any fixed number, distinct from the other advisory locks of the server.
_FIRST_KEY_LOCK_ID: Final = 0x6A6F746B
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


def _activates(row: SigningKey) -> dt.datetime:
    # Keys from before staged rotation have no activates_at: they signed at once.
    return row.activates_at or row.created_at


@dataclass(frozen=True)
class KeyState:
    """Where a key is in its life, and when it moves on (None: not scheduled yet)."""

    kid: str
    alg: str
    state: str  # pending | active | retiring | retired
    created_at: dt.datetime
    activates_at: dt.datetime
    retires_at: dt.datetime | None


def key_states(
    rows: list[SigningKey], *, alg: str, retain_for: float, now: dt.datetime
) -> list[KeyState]:
    """The state of every key in ``rows`` at ``now`` (newest first).

    The signer is the newest key of ``alg`` that is enabled and activated; a
    key is replaced when a later one activates (whatever its alg, so an
    algorithm change retires the old keys too) and retired ``retain_for``
    seconds after that, or at once when withdrawn by hand (``retired_at``).
    """
    ordered = sorted(rows, key=_activates, reverse=True)
    live = [r for r in ordered if r.active and _activates(r) <= now]
    signer = next((r for r in live if r.alg == alg), None)
    states = []
    for row in ordered:
        starts = _activates(row)
        later = [_activates(r) for r in live if _activates(r) > starts and r.alg == alg]
        replaced = min(later) if later else None
        retires = replaced + dt.timedelta(seconds=retain_for) if replaced else None
        if row.retired_at is not None:
            state, retires = "retired", row.retired_at
        elif starts > now:
            state = "pending"
        elif row is signer:
            state = "active"
        elif retires is None or now < retires:
            state = "retiring"
        else:
            state = "retired"
        states.append(KeyState(row.kid, row.alg, state, row.created_at, starts, retires))
    return states


class KeyStore:
    """Loads, creates, rotates and caches the server's signing keys."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        alg: str,
        secret: str | None,
        retain_for: float = 15 * 60 + 60,
    ) -> None:
        self._sessions = sessions
        self._alg = alg
        self._retain_for = retain_for
        self._rows: list[SigningKey] = []
        self._opened: dict[str, jwk.Key] = {}
        self._valid_until = 0.0
        self._sealer = Sealer.from_secret(secret, purpose="signing-key") if secret else None
        self._loaded: LoadedKeys | None = None
        self._loaded_at = 0.0
        self._last_unknown_kid_reload = 0.0

    async def start(self) -> LoadedKeys:
        """Make sure a signing key for the configured algorithm exists; load all keys."""
        async with self._sessions() as db, db.begin():
            await serialize(db, _FIRST_KEY_LOCK_ID)
            rows = (await db.scalars(select(SigningKey))).all()
            now = _now()
            states = key_states(list(rows), alg=self._alg, retain_for=self._retain_for, now=now)
            if not any(k.state == "active" and k.alg == self._alg for k in states):
                await self._insert_new_key(db, activates_at=now)
        return await self.reload()

    async def rotate(self, *, activate_after: float = 0) -> str:
        """Add a key that signs ``activate_after`` seconds from now (published at once).

        The current key keeps signing until then, and verifying until its
        tokens have expired. Returns the new kid.
        """
        activates_at = _now() + dt.timedelta(seconds=activate_after)
        async with self._sessions() as db, db.begin():
            stored = (await db.scalars(select(SigningKey.encrypted))).all()
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
                db, "key_rotated", kid=kid, alg=self._alg, activates_at=activates_at.isoformat()
            )
        await self.reload()
        return kid

    async def states(self) -> list[KeyState]:
        """Every stored key (any algorithm) and its state now, newest first."""
        async with self._sessions() as db:
            rows = (await db.scalars(select(SigningKey))).all()
        return key_states(list(rows), alg=self._alg, retain_for=self._retain_for, now=_now())

    async def _insert_new_key(self, db: AsyncSession, *, activates_at: dt.datetime) -> str:
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
            activates_at=activates_at,
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
        """Read every key of the configured family from the database."""
        async with self._sessions() as db:
            rows = (await db.scalars(select(SigningKey))).all()
        family = [r for r in rows if _symmetric(r.alg) == _symmetric(self._alg)]
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
            raise KeyStoreError(f"no active {self._alg} signing key in the database")
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


async def alg_in_use(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    """The algorithm of the key signing now (what the servers are configured with)."""
    async with sessions() as db:
        rows = (await db.scalars(select(SigningKey))).all()
    now = _now()
    live = [r for r in rows if r.active and r.retired_at is None and _activates(r) <= now]
    return max(live, key=_activates).alg if live else None


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
