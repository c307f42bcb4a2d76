"""Password policy and argon2id hashing, run off the event loop.

Hashing costs tens of milliseconds of CPU and ~19 MiB of memory per call, so
it runs in a small dedicated thread pool: it never blocks other requests and
never runs more hashes at once than there are cores. Unknown users are
checked against a dummy hash made with the same parameters, so "no such
user" and "wrong password" take the same time.

The hash threads run at the lowest CPU priority (Linux ``nice`` 19 per
thread): under a login storm the event loop, which serves every other
request, keeps the CPU it needs and hashing gets the rest. At most
``max_queued`` hashes may wait for a thread; beyond that the caller gets
503 ``server_busy`` with ``Retry-After`` at once, so a storm cannot pile up
unbounded work (and memory) behind the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Final, TypeVar

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
#: ``nice`` value of the hash threads: the lowest priority.
HASH_THREAD_NICENESS: Final = 19

_T = TypeVar("_T")


def lower_thread_priority() -> None:
    """Make the calling thread the CPU's last choice (Linux: per-thread nice); else no-op."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None or not hasattr(threading, "get_native_id"):
        return
    # Linux applies PRIO_PROCESS with a thread id to that thread alone.
    with contextlib.suppress(OSError):
        setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


def server_busy() -> ApiError:
    """503 ``server_busy``: too many password hashes are waiting already."""
    return ApiError(
        503,
        "server_busy",
        "the server is busy checking other passwords; retry in a moment",
        headers={"Retry-After": "1"},
    )


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

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, max_queued: int = 64
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._threads = max(1, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(
            max_workers=self._threads,
            thread_name_prefix="jotgate-argon2",
            initializer=lower_thread_priority,
        )
        self._max_queued = max_queued
        self._pending = 0  # hashes submitted and not finished (running + waiting)
        # A hash of a random password nobody knows: verified against for unknown users.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        """The argon2id PHC string of ``password``."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Constant-effort check; ``stored_hash=None`` means unknown user (always False)."""
        target = stored_hash if stored_hash is not None else self._dummy_hash
        ok = await self._run(self._verify_sync, target, password)
        return ok and stored_hash is not None

    @property
    def pending(self) -> int:
        """Hashes running or waiting for a thread now."""
        return self._pending

    async def _run(self, function: Callable[..., _T], *args: str) -> _T:
        if self._pending >= self._threads + self._max_queued:
            raise server_busy()
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            # shield: a caller that goes away still leaves its hash running; count it until done.
            future = loop.run_in_executor(self._pool, function, *args)
            future.add_done_callback(self._finished)
        except BaseException:
            self._pending -= 1
            raise
        return await asyncio.shield(future)

    def _finished(self, _future: object) -> None:
        self._pending -= 1

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
