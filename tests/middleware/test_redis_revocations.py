"""RedisRevocations against the real Redis: start-up scan, pub/sub, reconnection, end to end."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from jotgate.middleware import AuthMiddleware, Claims, start_in_thread

from .conftest import REDIS_URL, MakeToken, make_verifier, need_redis

redis_asyncio = pytest.importorskip("redis.asyncio")
from jotgate.middleware.redis_revocations import (  # noqa: E402
    RedisRevocations,
    publish_revocation,
)

pytestmark = pytest.mark.anyio


def claims(sid: str | None = None, jti: str | None = None) -> Claims:
    return Claims.from_dict({"sid": sid, "jti": jti} if jti else {"sid": sid})


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    need_redis()
    client = redis_asyncio.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def names(redis: Any) -> dict[str, str]:
    """A private channel and key prefix per test: Redis is shared with other suites."""
    tag = uuid.uuid4().hex[:12]
    return {"channel": f"jotgate-test:{tag}:feed", "key_prefix": f"jotgate-test:{tag}:"}


@pytest.fixture
async def cleanup(redis: Any, names: dict[str, str]) -> AsyncIterator[None]:
    yield
    keys = [key async for key in redis.scan_iter(names["key_prefix"] + "*")]
    if keys:
        await redis.delete(*keys)


async def test_start_loads_current_revocations_from_keys(
    redis: Any, names: dict[str, str], cleanup: None
) -> None:
    prefix = names["key_prefix"]
    await redis.set(prefix + "sid:old-session", b"1", ex=600)
    await redis.set(prefix + "jti:old-token", b"1", ex=600)
    await redis.set(prefix + "sid:no-ttl", str(time.time() + 600))
    source = RedisRevocations(REDIS_URL, **names)
    await source.start()
    try:
        assert source.is_revoked(claims(sid="old-session"))
        assert source.is_revoked(claims(jti="old-token"))
        assert source.is_revoked(claims(sid="no-ttl"))
        assert not source.is_revoked(claims(sid="someone-else"))
    finally:
        await source.stop()


async def test_published_messages_are_applied(
    redis: Any, names: dict[str, str], cleanup: None
) -> None:
    source = RedisRevocations(REDIS_URL, **names)
    await source.start()
    try:
        exp = time.time() + 600
        await redis.publish(names["channel"], json.dumps({"sid": "s-1", "exp": exp}))
        await redis.publish(names["channel"], b"not json")  # ignored, the feed goes on
        await redis.publish(
            names["channel"], json.dumps([{"jti": "j-1", "exp": exp}, {"sid": "s-2", "exp": exp}])
        )
        await eventually(lambda: source.is_revoked(claims(sid="s-2")))
        assert source.is_revoked(claims(sid="s-1"))
        assert source.is_revoked(claims(jti="j-1"))
        await publish_revocation(redis, sid="s-3", exp=exp, **names)
        await eventually(lambda: source.is_revoked(claims(sid="s-3")))
        assert await redis.ttl(names["key_prefix"] + "sid:s-3") > 500
    finally:
        await source.stop()


async def test_the_feed_reconnects_and_rescans_after_losing_redis(
    redis: Any, names: dict[str, str], cleanup: None
) -> None:
    name = "jotgate-test-" + uuid.uuid4().hex[:8]
    source = RedisRevocations(f"{REDIS_URL}?client_name={name}", reconnect_delay=0.3, **names)
    await source.start()
    try:
        killed = 0
        for client in await redis.client_list(_type="pubsub"):
            if client.get("name") == name:
                killed += await redis.client_kill_filter(_id=client["id"])
        assert killed == 1
        # Published while the subscriber is gone: only the key tells of it.
        await publish_revocation(redis, sid="during-outage", exp=time.time() + 600, **names)
        await eventually(lambda: source.is_revoked(claims(sid="during-outage")))
        await publish_revocation(redis, sid="after", exp=time.time() + 600, **names)
        await eventually(lambda: source.is_revoked(claims(sid="after")))
    finally:
        await source.stop()


async def test_an_unreachable_redis_fails_at_start() -> None:
    source = RedisRevocations("redis://127.0.0.1:1/0")
    with pytest.raises((OSError, redis_asyncio.ConnectionError)):
        await source.start()
    await source.stop()


async def test_logout_reaches_a_running_asgi_app(
    redis: Any, names: dict[str, str], cleanup: None, make_token: MakeToken
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    verifier = make_verifier(revocations=RedisRevocations(REDIS_URL, **names))
    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(AuthMiddleware, verifier=verifier)
    token = make_token(sid="logged-out")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        verifier.lifespan(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.get("/", headers=headers)).status_code == 200
        await publish_revocation(redis, sid="logged-out", exp=time.time() + 900, **names)
        await eventually(
            lambda: (
                verifier.revocations is not None
                and verifier.revocations.is_revoked(claims(sid="logged-out"))
            )
        )
        answer = await http.get("/", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "token_revoked"


async def test_a_flask_app_follows_the_feed_from_a_thread(
    redis: Any, names: dict[str, str], cleanup: None, make_token: MakeToken
) -> None:
    from flask import Flask

    from jotgate.middleware import WSGIAuthMiddleware

    app = Flask(__name__)
    app.get("/")(lambda: "hello")
    verifier = make_verifier(revocations=RedisRevocations(REDIS_URL, **names))
    app.wsgi_app = WSGIAuthMiddleware(app.wsgi_app, verifier)  # type: ignore[method-assign]
    feed = await asyncio.to_thread(start_in_thread, verifier)
    try:
        http = app.test_client()
        headers = {"Authorization": f"Bearer {make_token(sid='flask-session')}"}
        assert http.get("/", headers=headers).status_code == 200
        await publish_revocation(redis, sid="flask-session", exp=time.time() + 900, **names)
        await eventually(lambda: http.get("/", headers=headers).status_code == 401)
        assert http.get("/", headers=headers).json["error"] == "token_revoked"
    finally:
        await asyncio.to_thread(feed.stop)
