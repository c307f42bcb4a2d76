"""Rotation under concurrency, and several servers sharing PostgreSQL (+ Redis) as one.

Two apps on one database stand in for two processes: each has its own
engine, pool, key cache and denylist cache; only the database (and Redis)
is shared.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from jotgate.server.models import RefreshToken

from .conftest import Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

CONCURRENT = 30


async def live_tokens(server: Server) -> int:
    async with server.runtime.db() as db:
        count = await db.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.used_at.is_(None))
        )
    return int(count or 0)


async def storm(servers: list[Server], token: str) -> list[Any]:
    calls = [
        servers[i % len(servers)].client.post("/auth/refresh", json={"refresh_token": token})
        for i in range(CONCURRENT)
    ]
    return list(await asyncio.gather(*calls))


def assert_one_successor(responses: list[Any]) -> None:
    assert Counter(r.status_code for r in responses) == {200: CONCURRENT}
    assert len({r.json()["refresh_token"] for r in responses}) == 1


async def test_concurrent_refreshes_on_sqlite_share_one_successor(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as server:
        tokens = await server.signup()
        responses = await storm([server], tokens["refresh_token"])
        assert_one_successor(responses)
        assert await live_tokens(server) == 1


async def test_without_grace_exactly_one_concurrent_refresh_wins_on_sqlite(
    tmp_path: Path,
) -> None:
    async with running(test_settings(tmp_path, refresh_reuse_grace=0)) as server:
        tokens = await server.signup()
        responses = await storm([server], tokens["refresh_token"])
        assert Counter(r.status_code for r in responses)[200] == 1


async def _two_servers(stack: AsyncExitStack, tmp_path: Path, **overrides: Any) -> list[Server]:
    settings = test_settings(tmp_path, **overrides)
    first = await stack.enter_async_context(running(settings))
    second = await stack.enter_async_context(running(settings))
    return [first, second]


async def test_concurrent_refreshes_across_two_servers_on_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    async with AsyncExitStack() as stack:
        servers = await _two_servers(stack, tmp_path, database_url=pg_url)
        tokens = await servers[0].signup()
        responses = await storm(servers, tokens["refresh_token"])
        assert_one_successor(responses)
        assert await live_tokens(servers[0]) == 1


async def test_without_grace_exactly_one_refresh_wins_on_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    async with AsyncExitStack() as stack:
        servers = await _two_servers(stack, tmp_path, database_url=pg_url, refresh_reuse_grace=0)
        tokens = await servers[0].signup()
        responses = await storm(servers, tokens["refresh_token"])
        assert Counter(r.status_code for r in responses)[200] == 1


async def test_servers_sharing_postgres_use_one_signing_key(tmp_path: Path, pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        servers = await _two_servers(stack, tmp_path, database_url=pg_url)
        jwks = [(await s.client.get("/.well-known/jwks.json")).json() for s in servers]
        assert jwks[0] == jwks[1]
        assert len(jwks[0]["keys"]) == 1
        tokens = await servers[0].signup()
        me = await servers[1].client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200


async def _logout_is_seen_by_the_other_server(servers: list[Server]) -> None:
    tokens = await servers[0].signup()
    # Warm the second server's "not revoked" cache first: it must still expire in time.
    me = await servers[1].client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    await servers[0].client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    await asyncio.sleep(1.05)
    me = await servers[1].client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 401
    assert me.json()["error"] == "token_revoked"


async def test_logout_on_one_server_denies_on_the_other_via_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    async with AsyncExitStack() as stack:
        await _logout_is_seen_by_the_other_server(
            await _two_servers(stack, tmp_path, database_url=pg_url)
        )


async def test_logout_on_one_server_denies_on_the_other_via_redis(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    async with AsyncExitStack() as stack:
        await _logout_is_seen_by_the_other_server(
            await _two_servers(stack, tmp_path, database_url=pg_url, redis_url=redis_url)
        )


async def test_full_flow_on_postgres_with_redis(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    settings = test_settings(tmp_path, database_url=pg_url, redis_url=redis_url)
    async with running(settings) as server:
        tokens = await server.signup()
        fresh = await server.client.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert fresh.status_code == 200
        access = fresh.json()["access_token"]
        assert (await server.client.get("/auth/me", headers=bearer(access))).status_code == 200
        health = (await server.client.get("/healthz")).json()
        assert health["checks"] == {"database": "ok", "redis": "ok"}
        await server.client.post("/auth/logout-all", headers=bearer(access))
        me = await server.client.get("/auth/me", headers=bearer(access))
        assert me.json()["error"] == "token_revoked"
