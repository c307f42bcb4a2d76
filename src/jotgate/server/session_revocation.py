"""Ending sessions: logout, logout everywhere, password change, disable, refresh reuse.

A revocation marks the sessions revoked, wipes sealed refresh successors,
and writes the denylist and feed rows in the same transaction (so the
logout, its denial and its feed entry commit together); :meth:`publish`
then tells this process and the shared store after the commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import audit
from .audit import ClientInfo
from .denylist import DatabaseDenylist, Denylist
from .errors import ApiError
from .models import RefreshToken, Session
from .revocation_feed import record_revocations
from .session_records import Revocations
from .settings import Settings

__all__ = ["SessionRevocation"]

# Access tokens may be verified with a little clock skew; deny a bit past their expiry.
_DENY_MARGIN: Final = dt.timedelta(seconds=60)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SessionRevocation:
    """The revoking half of :class:`.sessions.SessionService`."""

    _settings: Settings
    _sessions: async_sessionmaker[AsyncSession]
    _denylist: Denylist

    def _deny_until(self) -> dt.datetime:
        return _now() + dt.timedelta(seconds=self._settings.access_token_ttl) + _DENY_MARGIN

    async def _revoke_sessions(
        self,
        db: AsyncSession,
        sessions: list[Session],
        *,
        reason: str,
        into: Revocations,
        now: dt.datetime | None = None,
    ) -> None:
        now = now or _now()
        live = [s for s in sessions if s.revoked_at is None]
        for session in live:
            session.revoked_at = now
            session.revoked_reason = reason
        sids = [s.id for s in live]
        if not sids:
            return
        # Nothing sealed may outlive its session.
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.session_id.in_(sids))
            .values(successor_sealed=None)
            .execution_options(synchronize_session=False)
        )
        # Same transaction: the logout, its denial and its feed entry commit together.
        denylist_in_db = isinstance(self._denylist.store, DatabaseDenylist)
        await record_revocations(db, sids, self._deny_until(), denylist_in_db=denylist_in_db)
        into.sids.extend(sids)

    async def publish(self, revoked: Revocations) -> None:
        """After commit: make the revocations known to this process and the shared store."""
        if not revoked.sids:
            return
        if isinstance(self._denylist.store, DatabaseDenylist):
            self._denylist.remember(revoked.sids, self._deny_until())
        else:
            await self._denylist.revoke(revoked.sids, self._deny_until())

    async def revoke_user_sessions(
        self, db: AsyncSession, user_id: str, *, reason: str, into: Revocations
    ) -> None:
        """Inside the caller's transaction: revoke every live session of ``user_id``."""
        sessions = (
            await db.scalars(
                select(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
            )
        ).all()
        await self._revoke_sessions(db, list(sessions), reason=reason, into=into)

    async def end(
        self,
        session_id: str,
        *,
        user_id: str,
        reason: str,
        client: ClientInfo,
        event: str = "logout",
    ) -> None:
        """Revoke one session of ``user_id``; 404 ``session_not_found`` if not theirs."""
        revoked = Revocations()
        async with self._sessions() as db, db.begin():
            session = await db.get(Session, session_id)
            if session is None or session.user_id != user_id:
                raise ApiError(404, "session_not_found", "no such session")
            await self._revoke_sessions(db, [session], reason=reason, into=revoked)
            audit.record(db, event, client=client, user_id=user_id, session_id=session_id)
        await self.publish(revoked)

    async def end_all(self, user_id: str, *, client: ClientInfo) -> int:
        """Revoke every session of ``user_id``; the number revoked."""
        revoked = Revocations()
        async with self._sessions() as db, db.begin():
            await self.revoke_user_sessions(db, user_id, reason="logout_all", into=revoked)
            audit.record(
                db, "logout_all", client=client, user_id=user_id, sessions=len(revoked.sids)
            )
        await self.publish(revoked)
        return len(revoked.sids)
