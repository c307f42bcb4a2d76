"""User accounts: registration, credential checks, password and role changes.

Credential checks always cost one argon2 verification, for known and
unknown users alike, and fail with the one generic ``invalid_credentials``.
Changes that must end sessions (password, disable) call the session service
inside the same transaction.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import audit
from .audit import ClientInfo
from .errors import ApiError
from .models import User
from .passwords import PasswordService, check_password_policy, normalize_password
from .sessions import Revocations, SessionService
from .usernames import normalize_username

__all__ = ["UserService", "invalid_credentials"]

_MAX_ROLES = 32


def invalid_credentials() -> ApiError:
    """The one answer for unknown user, wrong password and disabled account alike."""
    return ApiError(401, "invalid_credentials", "the username or password is wrong")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _clean_roles(roles: Iterable[str]) -> list[str]:
    cleaned = sorted({r.strip() for r in roles if r.strip()})
    if len(cleaned) > _MAX_ROLES or any(len(r) > 64 or " " in r for r in cleaned):
        raise ApiError(422, "invalid_roles", "roles are up to 32 words of at most 64 characters")
    return cleaned


class UserService:
    """Account operations over the ``users`` table."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        passwords: PasswordService,
        session_service: SessionService,
    ) -> None:
        self._sessions = sessions
        self._passwords = passwords
        self._session_service = session_service

    async def register(
        self,
        username: str,
        password: str,
        *,
        client: ClientInfo | None = None,
        roles: Iterable[str] = (),
    ) -> User:
        """Create an account; 409 ``username_taken`` when the normalised name exists."""
        name = normalize_username(username)
        normalized = check_password_policy(password, username=name)
        password_hash = await self._passwords.hash(normalized)
        now = _now()
        user = User(
            id=str(uuid.uuid4()),
            username=name,
            password_hash=password_hash,
            roles=_clean_roles(roles),
            disabled=False,
            created_at=now,
            password_changed_at=now,
        )
        try:
            async with self._sessions() as db, db.begin():
                db.add(user)
                await db.flush()
                audit.record(db, "user_registered", client=client, user_id=user.id)
        except IntegrityError:
            raise ApiError(409, "username_taken", "this username is already taken") from None
        return user

    async def check_credentials(
        self, username: str, password: str, *, client: ClientInfo | None = None
    ) -> User:
        """The user if ``password`` is right, else ``invalid_credentials`` (same time)."""
        try:
            name: str | None = normalize_username(username)
        except ApiError:
            name = None  # still hash below: a malformed name must not answer faster
        user = None
        if name is not None:
            async with self._sessions() as db:
                user = await db.scalar(select(User).where(User.username == name))
        candidate = normalize_password(password)
        ok = await self._passwords.verify(user.password_hash if user else None, candidate)
        if user is None or not ok or user.disabled:
            async with self._sessions() as db, db.begin():
                audit.record(
                    db,
                    "login_failed",
                    client=client,
                    user_id=user.id if user else None,
                    username=(name or "")[:64],
                    reason="disabled" if (user and ok) else "bad_credentials",
                )
            raise invalid_credentials()
        if self._passwords.needs_rehash(user.password_hash):
            # The cost parameters changed since this hash was made: upgrade it now
            # that we hold the plaintext.
            new_hash = await self._passwords.hash(candidate)
            async with self._sessions() as db, db.begin():
                fresh = await db.get(User, user.id, with_for_update=True)
                if fresh is not None and fresh.password_hash == user.password_hash:
                    fresh.password_hash = new_hash
                    user.password_hash = new_hash
        return user

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        async with self._sessions() as db:
            return await db.get(User, user_id)

    async def by_username(self, username: str) -> User:
        """The user with this (normalised) name, or 404 ``user_not_found``."""
        name = normalize_username(username)
        async with self._sessions() as db:
            user = await db.scalar(select(User).where(User.username == name))
        if user is None:
            raise ApiError(404, "user_not_found", f"no user named {name!r}")
        return user

    async def list(self) -> builtins.list[User]:
        """Every user, by name."""
        async with self._sessions() as db:
            return list((await db.scalars(select(User).order_by(User.username))).all())

    async def change_password(
        self,
        user_id: str,
        current: str,
        new: str,
        *,
        client: ClientInfo | None = None,
    ) -> User:
        """Check ``current``, store ``new``, end every session of the user."""
        user = await self.get(user_id)
        if user is None or user.disabled:
            raise invalid_credentials()
        if not await self._passwords.verify(user.password_hash, normalize_password(current)):
            raise ApiError(401, "invalid_credentials", "the current password is wrong")
        return await self.set_password(user.id, new, client=client, event="password_changed")

    async def set_password(
        self,
        user_id: str,
        new: str,
        *,
        client: ClientInfo | None = None,
        event: str = "password_changed",
    ) -> User:
        """Store a new password (policy checked) and end every session of the user."""
        user = await self.get(user_id)
        if user is None:
            raise ApiError(404, "user_not_found", "no such user")
        normalized = check_password_policy(new, username=user.username)
        new_hash = await self._passwords.hash(normalized)
        revoked = Revocations()
        async with self._sessions() as db, db.begin():
            row = await db.get(User, user_id, with_for_update=True)
            assert row is not None
            row.password_hash = new_hash
            row.password_changed_at = _now()
            await self._session_service.revoke_user_sessions(
                db, user_id, reason="password_changed", into=revoked
            )
            audit.record(db, event, client=client, user_id=user_id, sessions=len(revoked.sids))
        await self._session_service.publish(revoked)
        return row

    async def set_disabled(
        self, user_id: str, disabled: bool, *, client: ClientInfo | None = None
    ) -> None:
        """Disable (ending every session) or enable an account."""
        revoked = Revocations()
        async with self._sessions() as db, db.begin():
            row = await db.get(User, user_id, with_for_update=True)
            if row is None:
                raise ApiError(404, "user_not_found", "no such user")
            row.disabled = disabled
            if disabled:
                await self._session_service.revoke_user_sessions(
                    db, user_id, reason="user_disabled", into=revoked
                )
            audit.record(
                db, "user_disabled" if disabled else "user_enabled", client=client, user_id=user_id
            )
        await self._session_service.publish(revoked)

    async def set_roles(self, user_id: str, roles: Iterable[str]) -> builtins.list[str]:
        """Replace the user's roles; new access tokens carry them."""
        cleaned = _clean_roles(roles)
        async with self._sessions() as db, db.begin():
            row = await db.get(User, user_id, with_for_update=True)
            if row is None:
                raise ApiError(404, "user_not_found", "no such user")
            row.roles = cleaned
            audit.record(db, "roles_changed", user_id=user_id, roles=cleaned)
        return cleaned
