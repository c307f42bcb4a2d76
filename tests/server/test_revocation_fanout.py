"""Revocations reach verifiers elsewhere: Redis pub/sub and GET /auth/revocations.

The verifiers here are the real ``jotgate.middleware`` ones
(``RedisRevocations``, ``PollingRevocations``) against the real server.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from jotgate import errors, jwk, jwt
from jotgate.middleware import PollingRevocations, RedisRevocations, Verifier

from .conftest import PASSWORD, Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

SECRET = "revocation feed secret"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"feed:{SECRET}".encode()).decode()}
Cause = Callable[[Server, dict[str, Any]], Awaitable[None]]


async def logout(server: Server, tokens: dict[str, Any]) -> None:
    await server.client.post("/auth/logout", headers=bearer(tokens["access_token"]))


async def logout_all(server: Server, tokens: dict[str, Any]) -> None:
    await server.client.post("/auth/logout-all", headers=bearer(tokens["access_token"]))


async def password_change(server: Server, tokens: dict[str, Any]) -> None:
    await server.client.post(
        "/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": "an entirely new passphrase"},
    )


async def disable(server: Server, tokens: dict[str, Any]) -> None:
    sub = jwt.decode_unverified(tokens["access_token"])[1]["sub"]
    await server.runtime.users.set_disabled(sub, True)


async def reuse(server: Server, tokens: dict[str, Any]) -> None:
    for _ in range(2):  # no grace in these servers: the second use is theft
        await server.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


async def revoke(server: Server, tokens: dict[str, Any]) -> None:
    await server.client.post("/auth/revoke", data={"token": tokens["refresh_token"]})


CAUSES = [logout, logout_all, password_change, disable, reuse, revoke]


async def verifier_for(server: Server, revocations: Any) -> Verifier:
    keys = jwk.KeySet.from_jwks((await server.client.get("/.well-known/jwks.json")).json())
    return Verifier(
        keys,
        algorithms=["ES256"],
        issuer="http://testserver",
        audience="jotgate-test",
        typ="at+jwt",
        revocations=revocations,
    )


async def eventually_revoked(verifier: Verifier, token: str, refresh: Any = None) -> None:
    for _ in range(100):
        if refresh is not None:
            await refresh()
        try:
            verifier.verify(token)
        except errors.JoseError as exc:
            code = exc.code
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the verifier never learned of the revocation")
    assert code == "token_revoked"


@pytest.fixture
async def redis_server(tmp_path: Path, redis_url: str) -> AsyncIterator[Server]:
    settings = test_settings(tmp_path, redis_url=redis_url, refresh_reuse_grace=0)
    async with running(settings) as server:
        yield server


@pytest.mark.parametrize("cause", CAUSES, ids=lambda c: c.__name__)
async def test_every_revocation_is_published_to_redis_verifiers(
    redis_server: Server, redis_url: str, cause: Cause
) -> None:
    feed = RedisRevocations(redis_url, resync_interval=0)
    await feed.start()
    try:
        verifier = await verifier_for(redis_server, feed)
        tokens = await redis_server.signup()
        verifier.verify(tokens["access_token"])  # valid, and now cached
        await cause(redis_server, tokens)
        await eventually_revoked(verifier, tokens["access_token"])
    finally:
        await feed.stop()


async def test_the_redis_message_is_the_documented_wire_format(
    redis_server: Server, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe("jotgate:revocations")
    try:
        first = await redis_server.signup()
        second = await redis_server.login()
        await logout_all(redis_server, first)
        message = None
        for _ in range(100):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                break
        assert message is not None
        entries = json.loads(message["data"])
        sids = {jwt.decode_unverified(t["access_token"])[1]["sid"] for t in (first, second)}
        assert {e["sid"] for e in entries} == sids
        last_exp = jwt.decode_unverified(second["access_token"])[1]["exp"]
        assert all(isinstance(e["exp"], int) and e["exp"] >= last_exp for e in entries)
        sid = next(iter(sids))
        assert int(await client.get(f"jotgate:revoked:sid:{sid}")) == entries[0]["exp"]
        assert await client.ttl(f"jotgate:revoked:sid:{sid}") > 0
    finally:
        await pubsub.aclose()
        await client.aclose()


@pytest.fixture
async def feed_server(tmp_path: Path) -> AsyncIterator[Server]:
    settings = test_settings(
        tmp_path, introspection_clients=f"feed:{SECRET}", refresh_reuse_grace=0
    )
    async with running(settings) as server:
        yield server


@pytest.mark.parametrize("cause", CAUSES, ids=lambda c: c.__name__)
async def test_every_revocation_reaches_polling_verifiers(
    feed_server: Server, cause: Cause
) -> None:
    feed = PollingRevocations(
        "http://testserver/auth/revocations", interval=60, headers=BASIC, client=feed_server.client
    )
    await feed.start()
    try:
        verifier = await verifier_for(feed_server, feed)
        tokens = await feed_server.signup()
        verifier.verify(tokens["access_token"])
        await cause(feed_server, tokens)
        await eventually_revoked(verifier, tokens["access_token"], refresh=feed.poll)
    finally:
        await feed.stop()


async def test_the_cursor_contract(feed_server: Server) -> None:
    client = feed_server.client
    empty = (await client.get("/auth/revocations", headers=BASIC)).json()
    assert empty == {"revoked": [], "cursor": "0"}
    tokens = await feed_server.signup()
    await logout(feed_server, tokens)
    sid = jwt.decode_unverified(tokens["access_token"])[1]["sid"]
    page = (await client.get("/auth/revocations", params={"since": "0"}, headers=BASIC)).json()
    assert [e["sid"] for e in page["revoked"]] == [sid]
    again = await client.get("/auth/revocations", params={"since": page["cursor"]}, headers=BASIC)
    assert again.json() == {"revoked": [], "cursor": page["cursor"]}
    whole = (await client.get("/auth/revocations", headers=BASIC)).json()
    assert whole == page
    for stale in ("999999", "garbage", "-1", "\uff11"):  # full-width 1
        gone = await client.get("/auth/revocations", params={"since": stale}, headers=BASIC)
        assert gone.status_code == 410
        assert gone.json()["error"] == "cursor_unknown"


async def test_the_feed_is_public_by_default(feed_server: Server) -> None:
    tokens = await feed_server.signup()
    await feed_server.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    anonymous = await feed_server.client.get("/auth/revocations")
    assert anonymous.status_code == 200
    assert [entry["sid"] for entry in anonymous.json()["revoked"]] != []


async def test_a_clients_only_feed_needs_a_service_credential(tmp_path: Path) -> None:
    settings = test_settings(
        tmp_path, introspection_clients=f"feed:{SECRET}", revocation_feed="clients"
    )
    async with running(settings) as feed_server:
        anonymous = await feed_server.client.get("/auth/revocations")
        assert anonymous.status_code == 401
        assert set(anonymous.json()) == {"error", "message"}
        tokens = await feed_server.signup()
        user = await feed_server.client.get(
            "/auth/revocations", headers=bearer(tokens["access_token"])
        )
        assert user.status_code == 403
        service = await feed_server.client.get("/auth/revocations", headers=BASIC)
        assert service.status_code == 200


async def test_the_feed_is_shared_by_servers_on_postgres(tmp_path: Path, pg_url: str) -> None:
    settings = test_settings(tmp_path, database_url=pg_url, introspection_clients=f"feed:{SECRET}")
    async with running(settings) as first, running(settings) as second:
        tokens = await first.signup()
        await logout(first, tokens)
        page = (await second.client.get("/auth/revocations", headers=BASIC)).json()
        sid = jwt.decode_unverified(tokens["access_token"])[1]["sid"]
        assert [e["sid"] for e in page["revoked"]] == [sid]


async def test_concurrent_revocations_get_distinct_ordered_cursors_on_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    settings = test_settings(tmp_path, database_url=pg_url, introspection_clients=f"feed:{SECRET}")
    async with running(settings) as server:
        await server.register()
        sessions = [await server.login() for _ in range(8)]
        await asyncio.gather(*(logout(server, t) for t in sessions))
        page = (await server.client.get("/auth/revocations", headers=BASIC)).json()
        assert len({e["sid"] for e in page["revoked"]}) == 8
        assert page["cursor"] == str(len(page["revoked"]))
