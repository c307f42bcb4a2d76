"""Brute-force throttling of logins over HTTP, on the database and on Redis.

The throttle's clock is moved by the tests (it is injectable) instead of
sleeping; everything else is the real app. Client addresses come through
``X-Forwarded-For`` from the test client's trusted address, and every test
uses fresh names and addresses, because Redis is shared between tests.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from jotgate.server.models import AuditEvent

from .conftest import PASSWORD, Server, running, test_settings

pytestmark = pytest.mark.anyio

PEER = "203.0.113.7"  # the test client's address (conftest)
LIMITS: dict[str, Any] = {
    "trusted_proxies": f"{PEER}/32",
    "login_account_threshold": 3,
    "login_ip_threshold": 6,
    "login_base_delay": 1,
    "login_max_delay": 8,
    "login_window": 60,
}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def fresh_ip() -> str:
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def fresh_name(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def attempt(server: Server, username: str, password: str, ip: str) -> httpx.Response:
    return await server.client.post(
        "/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": ip},
    )


def with_clock(*servers: Server) -> Clock:
    clock = Clock()
    for server in servers:
        server.runtime.throttle.clock = clock
    return clock


@pytest.fixture(params=["database", "redis"])
async def limited(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """A server with small limits, its counters in SQLite or in Redis."""
    overrides = dict(LIMITS)
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    async with running(test_settings(tmp_path, **overrides)) as server:
        yield server


async def test_failures_past_the_account_threshold_get_429_with_retry_after(
    limited: Server,
) -> None:
    with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    await limited.register(name)
    for _ in range(3):
        assert (await attempt(limited, name, "wrong password!", ip)).status_code == 401
    blocked = await attempt(limited, name, PASSWORD, ip)  # even the right password waits
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "1"
    assert blocked.json()["error"] == "too_many_attempts"
    assert set(blocked.json()) == {"error", "message"}


async def test_retry_after_doubles_with_each_failure_and_stops_at_the_cap(
    limited: Server,
) -> None:
    clock = with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    for _ in range(2):
        await attempt(limited, name, "wrong password!", ip)
    seen = []
    for _ in range(6):
        assert (await attempt(limited, name, "wrong password!", ip)).status_code == 401
        blocked = await attempt(limited, name, "wrong password!", ip)
        assert blocked.status_code == 429
        seen.append(int(blocked.headers["retry-after"]))
        clock.now += seen[-1]  # wait out the block exactly
    assert seen == [1, 2, 4, 8, 8, 8]


async def test_refused_attempts_neither_count_nor_extend_the_block(limited: Server) -> None:
    clock = with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    await limited.register(name)
    for _ in range(3):
        await attempt(limited, name, "wrong password!", ip)
    for _ in range(20):
        assert (await attempt(limited, name, "wrong password!", ip)).status_code == 429
    clock.now += 1
    assert (await attempt(limited, name, PASSWORD, ip)).status_code == 200


async def test_a_success_resets_the_account_counter(limited: Server) -> None:
    with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    await limited.register(name)
    for _ in range(2):
        await attempt(limited, name, "wrong password!", ip)
    assert (await attempt(limited, name, PASSWORD, ip)).status_code == 200
    for _ in range(2):
        assert (await attempt(limited, name, "wrong password!", ip)).status_code == 401
    assert (await attempt(limited, name, PASSWORD, ip)).status_code == 200


async def test_counters_are_forgotten_after_the_window(limited: Server) -> None:
    clock = with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    for _ in range(2):
        await attempt(limited, name, "wrong password!", ip)
    clock.now += 61
    for _ in range(2):
        assert (await attempt(limited, name, "wrong password!", ip)).status_code == 401
    assert (await attempt(limited, name, "wrong password!", ip)).status_code == 401


async def test_one_address_is_slowed_across_usernames(limited: Server) -> None:
    with_clock(limited)
    ip = fresh_ip()
    victim = fresh_name("victim")
    await limited.register(victim)
    for _ in range(6):  # a password spray: one guess per account
        assert (await attempt(limited, fresh_name(), "Summer2024!", ip)).status_code == 401
    blocked = await attempt(limited, victim, PASSWORD, ip)
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "1"


async def test_another_address_still_logs_in_while_one_is_throttled(limited: Server) -> None:
    with_clock(limited)
    attacker, user_ip = fresh_ip(), fresh_ip()
    name = fresh_name()
    await limited.register(name)
    await attempt(limited, name, "wrong password!", attacker)
    for _ in range(5):
        await attempt(limited, fresh_name(), "wrong password!", attacker)
    assert (await attempt(limited, name, PASSWORD, attacker)).status_code == 429
    assert (await attempt(limited, name, PASSWORD, user_ip)).status_code == 200


async def test_an_attacker_cannot_lock_the_user_out_of_a_known_address(limited: Server) -> None:
    clock = with_clock(limited)
    home, attacker, elsewhere = fresh_ip(), fresh_ip(), fresh_ip()
    name = fresh_name()
    await limited.register(name)
    assert (await attempt(limited, name, PASSWORD, home)).status_code == 200
    for _ in range(3):
        await attempt(limited, name, "wrong password!", attacker)
    assert (await attempt(limited, name, PASSWORD, attacker)).status_code == 429
    # From an address never seen with this account, the account's block applies...
    assert (await attempt(limited, name, PASSWORD, elsewhere)).status_code == 429
    # ...but only briefly, and the user's own address is not blocked at all.
    assert (await attempt(limited, name, PASSWORD, home)).status_code == 200
    clock.now += 1
    assert (await attempt(limited, name, PASSWORD, elsewhere)).status_code == 200


async def test_unknown_and_known_accounts_are_throttled_alike(limited: Server) -> None:
    with_clock(limited)
    real, ghost = fresh_name(), fresh_name("ghost")
    await limited.register(real)
    answers = {}
    for name in (real, ghost):
        ip = fresh_ip()
        answers[name] = [
            (await attempt(limited, name, "wrong password!", ip)).status_code for _ in "1234"
        ]
    assert answers[real] == answers[ghost] == [401, 401, 401, 429]


async def test_a_block_is_audited_without_secrets(limited: Server) -> None:
    with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    for _ in range(3):
        await attempt(limited, name, "wrong password!", ip)
    async with limited.runtime.db() as db:
        rows = (
            await db.scalars(select(AuditEvent).where(AuditEvent.event == "login_throttled"))
        ).all()
    assert [(r.detail["scope"], r.detail["username"], r.ip) for r in rows] == [
        ("account", name, ip)
    ]
    assert "wrong password!" not in repr([r.detail for r in rows])


async def change_password(
    server: Server, access: str, current: str, ip: str, new: str = "a new passphrase 42"
) -> httpx.Response:
    return await server.client.post(
        "/auth/password",
        json={"current_password": current, "new_password": new},
        headers={"Authorization": f"Bearer {access}", "X-Forwarded-For": ip},
    )


async def test_wrong_current_passwords_are_throttled_like_logins(limited: Server) -> None:
    clock = with_clock(limited)
    name, ip = fresh_name(), fresh_ip()
    await limited.register(name)
    access = (await attempt(limited, name, PASSWORD, ip)).json()["access_token"]
    thief_ip = fresh_ip()  # a stolen access token, used from elsewhere
    for _ in range(3):
        wrong = await change_password(limited, access, "wrong password!", thief_ip)
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_credentials"
    blocked = await change_password(limited, access, PASSWORD, thief_ip)  # even the right one
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "too_many_attempts"
    assert blocked.headers["retry-after"] == "1"
    # One password, one count: the login door is blocked too for unknown addresses.
    assert (await attempt(limited, name, PASSWORD, fresh_ip())).status_code == 429
    clock.now += 1
    changed = await change_password(limited, access, PASSWORD, thief_ip)
    assert changed.status_code == 200


async def test_password_changes_count_on_the_address_across_accounts(limited: Server) -> None:
    with_clock(limited)
    ip = fresh_ip()
    tokens = []
    for _ in range(3):
        name = fresh_name()
        await limited.register(name)
        tokens.append((await attempt(limited, name, PASSWORD, fresh_ip())).json()["access_token"])
    for i in range(6):  # 2 per account: under the account threshold, at the address's
        answer = await change_password(limited, tokens[i % 3], "wrong password!", ip)
        assert answer.status_code == 401
    assert (await change_password(limited, tokens[0], PASSWORD, ip)).status_code == 429
    assert (await change_password(limited, tokens[0], PASSWORD, fresh_ip())).status_code == 200


async def _counted_across(servers: list[Server]) -> None:
    clock = with_clock(*servers)
    name, ip = fresh_name(), fresh_ip()
    await servers[0].register(name)
    for i in range(3):  # alternate: each process sees only part of the failures
        assert (await attempt(servers[i % 2], name, "wrong password!", ip)).status_code == 401
    for server in servers:
        blocked = await attempt(server, name, PASSWORD, ip)
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "1"
    clock.now += 1
    assert (await attempt(servers[1], name, PASSWORD, ip)).status_code == 200


async def test_two_servers_sharing_postgres_count_as_one(tmp_path: Path, pg_url: str) -> None:
    settings = test_settings(tmp_path, database_url=pg_url, **LIMITS)
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(running(settings)) for _ in range(2)]
        await _counted_across(servers)


async def test_two_servers_sharing_redis_count_as_one(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    settings = test_settings(tmp_path, database_url=pg_url, redis_url=redis_url, **LIMITS)
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(running(settings)) for _ in range(2)]
        await _counted_across(servers)
