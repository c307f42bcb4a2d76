"""Password rules and argon2id storage, through registration and login."""

from __future__ import annotations

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
