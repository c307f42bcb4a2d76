"""Password checks with brute-force throttling: /auth/login, /auth/token, /auth/password.

The order matters: the throttle is asked first (a blocked attempt costs no
password hash), the password is checked, and only then is the outcome
counted. Unknown and known accounts are counted alike, so the throttle
reveals no more about which names exist than the login itself does.

The password-change endpoint checks the current password with the same
counters (account and address): whoever holds a stolen access token could
otherwise guess the password there without limit, and one password is one
secret however many doors lead to it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import audit
from .audit import ClientInfo
from .errors import ApiError
from .models import User
from .throttle import LoginThrottle
from .usernames import normalize_username
from .users import UserService

__all__ = ["LoginService"]


def _account(username: str) -> str | None:
    try:
        return normalize_username(username)
    except ApiError:
        return None  # no account can have this name; the address is still counted


class LoginService:
    """``password_login``: throttle check, credential check, counting, audit."""

    def __init__(
        self,
        users: UserService,
        throttle: LoginThrottle,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self._users = users
        self.throttle = throttle
        self._sessions = sessions

    async def password_login(self, username: str, password: str, *, client: ClientInfo) -> User:
        """The user, or 401 ``invalid_credentials``, or 429 ``too_many_attempts``."""
        account = _account(username)
        await self.throttle.check(account=account, ip=client.ip)
        try:
            user = await self._users.check_credentials(username, password, client=client)
        except ApiError as exc:
            if exc.code == "invalid_credentials":
                await self._count_failure(account, client)
            raise
        await self.throttle.succeeded(account=account, ip=client.ip)
        return user

    async def change_password(
        self, user_id: str, current: str, new: str, *, client: ClientInfo
    ) -> User:
        """Check ``current`` (throttled like a login), store ``new``, end every session.

        401 ``invalid_credentials`` for a wrong current password, 429
        ``too_many_attempts`` while the account or the address is blocked.
        """
        user = await self._users.get(user_id)
        account = user.username if user is not None else None
        await self.throttle.check(account=account, ip=client.ip)
        try:
            changed = await self._users.change_password(user_id, current, new, client=client)
        except ApiError as exc:
            if exc.code == "invalid_credentials":
                await self._count_failure(account, client)
            raise
        await self.throttle.succeeded(account=account, ip=client.ip)
        return changed

    async def _count_failure(self, account: str | None, client: ClientInfo) -> None:
        blocks = await self.throttle.failed(account=account, ip=client.ip)
        if not blocks:
            return
        async with self._sessions() as db, db.begin():
            for block in blocks:
                audit.record(
                    db,
                    "login_throttled",
                    client=client,
                    scope=block.scope,
                    username=account if block.scope == "account" else None,
                    failures=block.failures,
                    seconds=round(block.seconds, 3),
                )
