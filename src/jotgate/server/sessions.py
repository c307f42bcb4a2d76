"""Sessions and refresh-token rotation: the heart of the token flow.

A session is one login: a family of refresh tokens with an idle expiry per
token and an absolute cap for the family. Rotation marks the presented token
used with a conditional ``UPDATE ... WHERE used_at IS NULL ... RETURNING``
(SQLite >= 3.35 or PostgreSQL) and inserts its successor in the same
transaction; only the transaction whose UPDATE changed
one row wins, so there is exactly one live successor on SQLite (transactions
begin IMMEDIATE) and PostgreSQL (row locks; the loser retries and sees the
winner's row). Within the reuse grace window the same old token gets the same
successor again (its plaintext is kept sealed for that window); after it, a
reuse means theft and the whole family dies.

What is refused, rotated or replayed is decided once, in
:mod:`.refresh_rules`; the rotation itself runs on the database's fast path
(:mod:`.refresh_sqlite` in a writer thread, :mod:`.refresh_pg` on asyncpg)
or, for other drivers and for every token used before, through SQLAlchemy
Core (:mod:`.refresh_core`) in the transaction that decides replay or theft.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Final

from sqlalchemy import (
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import audit, refresh_core, refresh_sqlite
from .audit import ClientInfo
from .bindings import Binding
from .denylist import Denylist
from .errors import ApiError, invalid_token
from .models import RefreshToken, Session, User
from .refresh_pg import PgRotations
from .refresh_rules import (
    USED_BEFORE,
    Family,
    Holder,
    LostRace,
    Plan,
    Rotated,
    Successor,
    UsedBefore,
    judge,
)
from .sealing import Sealer, SealError
from .session_records import Revocations, TokenPair, hash_refresh_token
from .session_revocation import SessionRevocation
from .settings import Settings
from .sqlite_writer import SqliteWriter
from .tokens import REFRESH_TOKEN_BYTES, TokenService, new_refresh_token

__all__ = ["Revocations", "SessionService", "TokenPair", "hash_refresh_token"]

log = logging.getLogger("jotgate.server")

_ROTATION_ATTEMPTS: Final = 5
#: Refresh tokens deleted per transaction by :meth:`SessionService.purge_dead_tokens`...
PURGE_BATCH: Final = 500
#: ...and at most this many transactions per sweep (the rest waits for the next one).
PURGE_BATCHES: Final = 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class _Reuse:
    """A rotated token came back after the grace window: the family was revoked."""

    session_id: str


class SessionService(SessionRevocation):
    """Creates sessions, rotates refresh tokens, revokes sessions."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        tokens: TokenService,
        denylist: Denylist,
        successor_sealer: Sealer,
        sqlite_writer: SqliteWriter | None = None,
        pg_rotations: PgRotations | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._tokens = tokens
        self._denylist = denylist
        self._sealer = successor_sealer
        self._writer = sqlite_writer
        self._pg = pg_rotations

    # -- login -------------------------------------------------------------

    async def start(
        self, user: User, *, client: ClientInfo, binding: Binding | None = None
    ) -> TokenPair:
        """A new session for ``user`` (just authenticated) and its first token pair.

        ``binding``: what the access token is bound to; a DPoP key binds the
        whole session (every refresh must be proved by it).
        """
        binding = binding or Binding()
        now = _now()
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + dt.timedelta(seconds=self._settings.session_max_age),
            user_agent=(client.user_agent or None) and client.user_agent[:512],
            ip=client.ip,
            dpop_jkt=binding.jkt,
        )
        plain = new_refresh_token()
        async with self._sessions() as db, db.begin():
            db.add(session)
            await db.flush()
            token = self._new_token_row(session, plain, now)
            db.add(token)
            audit.record(
                db, "login_succeeded", client=client, user_id=user.id, session_id=session.id
            )
        return await self._pair(user, session, plain, token.expires_at, now, binding)

    def _new_token_row(self, session: Session, plain: str, now: dt.datetime) -> RefreshToken:
        idle = now + dt.timedelta(seconds=self._settings.refresh_token_ttl)
        return RefreshToken(
            id=str(uuid.uuid4()),
            session_id=session.id,
            token_hash=hash_refresh_token(plain),
            created_at=now,
            expires_at=min(idle, session.expires_at),
        )

    async def _pair(
        self,
        user: User | Holder,
        session: Session | Family,
        refresh_plain: str,
        refresh_expires_at: dt.datetime,
        now: dt.datetime,
        binding: Binding,
    ) -> TokenPair:
        access, expires_in = await self._tokens.issue_access(
            user_id=user.id,
            session_id=session.id,
            roles=list(user.roles),
            now=now,
            not_after=session.expires_at,
            extra=binding.claims(),
        )
        return TokenPair(
            access_token=access,
            expires_in=expires_in,
            refresh_token=refresh_plain,
            refresh_expires_in=max(0, int((refresh_expires_at - now).total_seconds())),
            session_id=session.id,
            user_id=user.id,
            roles=tuple(user.roles),
            token_type="DPoP" if binding.jkt else "Bearer",
            fingerprint=binding.fingerprint,
        )

    # -- refresh -----------------------------------------------------------

    async def refresh(
        self,
        refresh_token: str,
        *,
        access_token: str | None,
        client: ClientInfo,
        binding: Binding | None = None,
    ) -> TokenPair:
        """Trade a refresh token for a new pair (see the module docstring for the rules).

        ``access_token`` (optional) is the caller's still-valid access token of
        the same session: it lets an idle-expired refresh token rotate anyway,
        within the session's absolute cap (the third of the four cases).
        """
        access_sid = await self._valid_access_sid(access_token)
        binding = binding or Binding()
        # _replay signs inside its write transaction: no key reload may happen there.
        await self._tokens.warm()
        for _ in range(_ROTATION_ATTEMPTS):
            try:
                result = await self._refresh_once(refresh_token, access_sid, client, binding)
            except LostRace:
                continue
            if isinstance(result, _Reuse):
                await self._denylist.revoke([result.session_id], self._deny_until())
                raise invalid_token(
                    "token_revoked",
                    "this refresh token was already used: the session has been revoked, "
                    "log in again",
                )
            return result
        raise ApiError(503, "try_again", "too much contention on this session; retry")

    async def _valid_access_sid(self, access_token: str | None) -> str | None:
        if not access_token:
            return None
        try:
            return (await self._tokens.authenticate(access_token)).sid
        except ApiError:
            return None

    def _successor(self) -> Successor:
        # One draw from the OS for token and id: each os.urandom call lets
        # the GIL go, and getting it back is what costs under load.
        entropy = os.urandom(REFRESH_TOKEN_BYTES + 16)
        plain = new_refresh_token(entropy[:REFRESH_TOKEN_BYTES])
        return Successor(
            id=str(uuid.UUID(bytes=entropy[REFRESH_TOKEN_BYTES:], version=4)),
            plain=plain,
            token_hash=hash_refresh_token(plain),
            sealed=self._sealer.seal(plain.encode())
            if self._settings.refresh_reuse_grace
            else None,
        )

    async def _refresh_once(
        self, refresh_token: str, access_sid: str | None, client: ClientInfo, binding: Binding
    ) -> TokenPair | _Reuse:
        now = _now()
        token_hash = hash_refresh_token(refresh_token)
        outcome: Rotated | UsedBefore = USED_BEFORE
        if self._writer is not None or self._pg is not None:
            plan = self._plan(token_hash, now, access_sid, binding, client)
            outcome = await self._rotate_fast(plan)
        rotated: Rotated | TokenPair | _Reuse
        if isinstance(outcome, UsedBefore):
            # Used before (a concurrent tab, or theft: rare), or no fast path:
            # the general path decides.
            rotated = await self._refresh_core(token_hash, access_sid, client, binding)
        else:
            rotated = outcome
        if not isinstance(rotated, Rotated):
            return rotated
        # Signed after the commit: the write lock is not held for the signature.
        return await self._pair(
            rotated.user,
            rotated.session,
            rotated.plain,
            rotated.expires_at,
            rotated.now,
            binding,
        )

    def _plan(
        self,
        token_hash: str,
        now: dt.datetime,
        access_sid: str | None,
        binding: Binding,
        client: ClientInfo,
    ) -> Plan:
        return Plan(
            token_hash=token_hash,
            now=now,
            access_sid=access_sid,
            proof_jkt=binding.jkt,
            successor=self._successor(),
            idle_expiry=now + dt.timedelta(seconds=self._settings.refresh_token_ttl),
            audit=audit.event_fields("refresh", client=client),
        )

    async def _rotate_fast(self, plan: Plan) -> Rotated | UsedBefore:
        """The rotation on the database's fast path (SQLite writer thread or asyncpg)."""
        if self._pg is not None:
            return await self._pg.rotate(plan)
        assert self._writer is not None
        try:
            return await self._writer.run(
                partial(refresh_sqlite.rotate, prepared=refresh_sqlite.prepare(plan))
            )
        except sqlite3.Error as exc:
            log.warning("refresh failed in the SQLite writer: %s", exc)
            raise ApiError(503, "try_again", "the database is busy; retry") from None

    async def _refresh_core(
        self, token_hash: str, access_sid: str | None, client: ClientInfo, binding: Binding
    ) -> Rotated | TokenPair | _Reuse:
        """Rotation, replay or theft through SQLAlchemy Core, on any database."""
        now = _now()
        async with self._sessions() as db, db.begin():
            # Token, session and user in one statement.
            conn = await db.connection()
            found = await refresh_core.find(conn, token_hash)
            if judge(found, now=now, access_sid=access_sid, proof_jkt=binding.jkt):
                assert found is not None
                plan = self._plan(token_hash, now, access_sid, binding, client)
                return await refresh_core.rotate(conn, found, plan)
            assert found is not None
            assert found.sid is not None
            assert found.uid is not None
            token = await db.get(RefreshToken, found.id)
            session = await db.get(Session, found.sid)
            user = await db.get(User, found.uid)
            assert token is not None
            assert session is not None
            assert user is not None
            return await self._replay(db, token, session, user, now, client, binding)

    async def _replay(
        self,
        db: AsyncSession,
        row: RefreshToken,
        session: Session,
        user: User,
        now: dt.datetime,
        client: ClientInfo,
        binding: Binding,
    ) -> TokenPair | _Reuse:
        assert row.used_at is not None
        grace = dt.timedelta(seconds=self._settings.refresh_reuse_grace)
        if row.successor_sealed is not None and row.successor_id and now - row.used_at <= grace:
            successor = await db.get(RefreshToken, row.successor_id)
            plain = self._open_successor(row.successor_sealed)
            if (
                successor is not None
                and successor.used_at is None
                and now < successor.expires_at
                and plain is not None
                and hash_refresh_token(plain) == successor.token_hash
            ):
                # A concurrent tab: the same live successor, a fresh access token.
                return await self._pair(user, session, plain, successor.expires_at, now, binding)
        revoked = Revocations()
        await self._revoke_sessions(db, [session], reason="refresh_reuse", into=revoked, now=now)
        audit.record(
            db,
            "refresh_reuse_detected",
            client=client,
            user_id=user.id,
            session_id=session.id,
            token_id=row.id,
        )
        return _Reuse(session.id)

    def _open_successor(self, sealed: bytes) -> str | None:
        try:
            return self._sealer.open(sealed).decode()
        except (SealError, UnicodeDecodeError):
            return None

    async def session_of_refresh_token(self, refresh_token: str) -> Session | None:
        """The session a refresh token belongs to (for logout by refresh token)."""
        async with self._sessions() as db:
            row = await db.scalar(
                select(RefreshToken).where(
                    RefreshToken.token_hash == hash_refresh_token(refresh_token)
                )
            )
            return await db.get(Session, row.session_id) if row else None

    async def list_live(self, user_id: str) -> list[Session]:
        """The user's sessions that can still be used, newest first."""
        now = _now()
        async with self._sessions() as db:
            rows = await db.scalars(
                select(Session)
                .where(
                    Session.user_id == user_id,
                    Session.revoked_at.is_(None),
                    Session.expires_at > now,
                )
                .order_by(Session.created_at.desc())
            )
            return list(rows.all())

    async def purge_dead_tokens(
        self, *, batch: int = PURGE_BATCH, batches: int = PURGE_BATCHES
    ) -> int:
        """Housekeeping: delete refresh tokens of sessions that ended; the number deleted.

        A session ends at its absolute expiry or when revoked; once the reuse
        grace window has passed after that, none of its tokens can do anything
        but be refused, so they go (the session row stays: logout and the
        session list still know it). A token of a purged session is then
        ``invalid_refresh_token`` instead of ``token_revoked``/``session_expired``,
        a 401 all the same. Small batches, each its own short write
        transaction, so a large backlog never holds the write lock for long.
        """
        cutoff = _now() - dt.timedelta(seconds=self._settings.refresh_reuse_grace)
        ended = (
            select(Session.id)
            .where(or_(Session.expires_at <= cutoff, Session.revoked_at <= cutoff))
            .scalar_subquery()
        )
        total = 0
        for _ in range(batches):
            doomed = (
                select(RefreshToken.id)
                .where(RefreshToken.session_id.in_(ended))
                .limit(batch)
                .scalar_subquery()
            )
            async with self._sessions() as db, db.begin():
                result = await db.execute(
                    delete(RefreshToken)
                    .where(RefreshToken.id.in_(doomed))
                    .execution_options(synchronize_session=False)
                )
            deleted: int = result.rowcount  # type: ignore[attr-defined]
            total += deleted
            if deleted < batch:
                break
        return total

    async def wipe_expired_grace(self) -> None:
        """Housekeeping: drop sealed successors whose grace window has passed."""
        cutoff = _now() - dt.timedelta(seconds=self._settings.refresh_reuse_grace)
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(RefreshToken)
                .where(RefreshToken.successor_sealed.is_not(None), RefreshToken.used_at < cutoff)
                .values(successor_sealed=None)
                .execution_options(synchronize_session=False)
            )
