"""Password rules and argon2id storage, through registration and login."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from jotgate.server.models import User
from jotgate.server.passwords import is_common_password

from .conftest import PASSWORD, Server, running, test_settings

pytestmark = pytest.mark.anyio


async def register(server: Server, username: str, password: str) -> tuple[int, str]:
    response = await server.client.post(
        "/auth/register", json={"username": username, "password": password}
    )
    return response.status_code, response.json().get("error", "")


@pytest.mark.parametrize(
    "password",
    ["short", "x" * 1025, "password1", "Password1", "qwertyuiop", "iloveyou", "trustno1"],
)
async def test_weak_passwords_are_refused(server: Server, password: str) -> None:
    assert await register(server, "alice", password) == (422, "weak_password")


async def test_the_username_as_password_is_refused(server: Server) -> None:
    assert await register(server, "longusername", "LongUserName") == (422, "weak_password")


async def test_passwords_of_8_and_1024_characters_are_accepted(server: Server) -> None:
    assert (await register(server, "eight", "zq8#Lm2!"))[0] == 201
    assert (await register(server, "long", "k" * 1000 + "9" * 24))[0] == 201


def test_the_common_list_is_the_top_10000() -> None:
    assert is_common_password("123456")
    assert is_common_password("PASSWORD")
    assert not is_common_password(PASSWORD)


@pytest.mark.parametrize("username", ["", " ", "a b", "x" * 65, "tab\tname", "zero\u200bwidth"])
async def test_bad_usernames_are_refused(server: Server, username: str) -> None:
    assert await register(server, username, PASSWORD) == (422, "invalid_username")


async def test_usernames_are_unique_after_normalisation(server: Server) -> None:
    await server.register("Alice")
    assert await register(server, "ALICE", PASSWORD) == (409, "username_taken")
    assert await register(server, "\uff41lice", PASSWORD) == (409, "username_taken")


async def test_passwords_are_stored_as_argon2id(server: Server) -> None:
    await server.register()
    async with server.runtime.db() as db:
        user = await db.scalar(select(User))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_hashes_are_upgraded_at_login_when_parameters_change(tmp_path: object) -> None:
    settings = test_settings(tmp_path)
    async with running(settings) as server:
        await server.register()
    stronger = settings.replace(argon2_time_cost=2)
    async with running(stronger) as server:
        await server.login()
        async with server.runtime.db() as db:
            user = await db.scalar(select(User))
        assert user is not None
        assert ",t=2," in user.password_hash
        await server.login()


def test_production_defaults_meet_owasp() -> None:
    from jotgate.server import Settings

    settings = Settings()
    assert settings.argon2_memory_kib >= 19 * 1024
    assert settings.argon2_time_cost >= 2
    assert settings.argon2_parallelism >= 1
    assert not settings.argon2_below_owasp


async def test_registration_can_be_closed(tmp_path: object) -> None:
    async with running(test_settings(tmp_path, registration="closed")) as server:
        assert await register(server, "alice", PASSWORD) == (403, "registration_closed")


# --- the hash pool: low priority threads, bounded queue ------------------------------------


@pytest.mark.anyio
async def test_hash_threads_run_at_the_lowest_priority() -> None:
    import os
    import sys
    import threading

    from jotgate.server.passwords import HASH_THREAD_NICENESS, PasswordService

    service = PasswordService(time_cost=1, memory_kib=64, parallelism=1)
    try:
        if not sys.platform.startswith("linux"):
            pytest.skip("per-thread priority is Linux-only (elsewhere a no-op)")
        nice = await service._run(
            lambda: str(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        )
        assert int(nice) == HASH_THREAD_NICENESS
        # The event loop's own thread is untouched.
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < HASH_THREAD_NICENESS
        assert await service.verify(await service.hash("a long password"), "a long password")
    finally:
        service.close()


@pytest.mark.anyio
async def test_logins_beyond_the_hash_queue_get_503_then_work_again(tmp_path: Path) -> None:
    import asyncio
    import threading

    from .conftest import PASSWORD, running, test_settings

    async with running(test_settings(tmp_path, argon2_max_queue=1)) as srv:
        await srv.register("alice")
        passwords = srv.runtime.passwords
        gate = threading.Event()

        def blocked() -> str:
            gate.wait(10)
            return "done"

        # Fill every hash thread and the one queue slot.
        fillers = [
            asyncio.ensure_future(passwords._run(blocked)) for _ in range(passwords._threads + 1)
        ]
        await asyncio.sleep(0.05)
        try:
            busy = await srv.client.post(
                "/auth/login", json={"username": "alice", "password": PASSWORD}
            )
            assert busy.status_code == 503, busy.text
            assert busy.json()["error"] == "server_busy"
            assert busy.headers["Retry-After"] == "1"
        finally:
            gate.set()
        assert await asyncio.gather(*fillers) == ["done"] * len(fillers)
        assert passwords.pending == 0
        ok = await srv.client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
        assert ok.status_code == 200, ok.text


@pytest.mark.anyio
async def test_a_cancelled_login_still_counts_until_its_hash_ends() -> None:
    import asyncio
    import threading

    from jotgate.server.passwords import PasswordService

    service = PasswordService(time_cost=1, memory_kib=64, parallelism=1, max_queued=0)
    gate = threading.Event()
    try:
        task = asyncio.ensure_future(service._run(lambda: str(gate.wait(10))))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.01)
        assert service.pending == 1
        gate.set()
        for _ in range(100):
            if service.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert service.pending == 0
    finally:
        gate.set()
        service.close()
