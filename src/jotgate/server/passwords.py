"""Password policy and argon2id hashing, run off the event loop.

Hashing costs tens of milliseconds of CPU and ~19 MiB of memory per call, so
it runs in a small dedicated thread pool: it never blocks other requests and
never runs more hashes at once than there are cores. Unknown users are
checked against a dummy hash made with the same parameters, so "no such
user" and "wrong password" take the same time.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import ApiError

__all__ = [
    "COMMON_PASSWORD_COUNT",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordService",
    "check_password_policy",
    "is_common_password",
    "normalize_password",
]

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 1024
COMMON_PASSWORD_COUNT: Final = 10_000


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships passwords ranked by frequency in real leaks; the first
    # 10,000 are the most common ones. It is lower-case, so we compare folded.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    ranked: list[str] = FREQUENCY_LISTS["passwords"]
    return frozenset(p.casefold() for p in ranked[:COMMON_PASSWORD_COUNT])


def is_common_password(password: str) -> bool:
    """True when ``password`` (case-insensitively) is among the 10,000 most common."""
    return normalize_password(password).casefold() in _common_passwords()


def normalize_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises, so the same typed password always matches."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str, *, username: str | None = None) -> str:
    """The normalised password, or :class:`ApiError` 422 ``weak_password`` saying why."""
    normalized = normalize_password(password)
    if len(normalized) < MIN_PASSWORD_LENGTH:
        raise ApiError(
            422, "weak_password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(normalized) > MAX_PASSWORD_LENGTH:
        raise ApiError(
            422, "weak_password", f"a password has at most {MAX_PASSWORD_LENGTH} characters"
        )
    if is_common_password(normalized):
        raise ApiError(
            422, "weak_password", "this password is one of the most common ones; choose another"
        )
    if username is not None and normalized.casefold() == username.casefold():
        raise ApiError(422, "weak_password", "the password must not be the username")
    return normalized


class PasswordService:
    """argon2id hashing and verification with a bounded thread pool."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="jotgate-argon2"
        )
        # A hash of a random password nobody knows: verified against for unknown users.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        """The argon2id PHC string of ``password``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Constant-effort check; ``stored_hash=None`` means unknown user (always False)."""
        loop = asyncio.get_running_loop()
        target = stored_hash if stored_hash is not None else self._dummy_hash
        ok = await loop.run_in_executor(self._pool, self._verify_sync, target, password)
        return ok and stored_hash is not None

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when ``stored_hash`` was made with other parameters than today's."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
