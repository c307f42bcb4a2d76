"""Logout reaches the gateway within a second, with no lookup per request.

Through Redis (pushed, the middleware's wire format) when ``redis_url`` is
set, else by polling the auth server's ``/auth/revocations``.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from jotgate import jwk

from .conftest import REDIS_HOST, REDIS_PORT, GatewayFactory, Served, need_redis, start_gateway
from .servers import AuthStandIn, ServerThread


def _status(c: httpx.Client, token: str) -> httpx.Response:
    return c.get("/api/x", headers={"Authorization": f"Bearer {token}"})


def _wait_refused(c: httpx.Client, token: str) -> httpx.Response:
    # The deadline only stops a hang; the feed is what promises "within 1 s".
    deadline = time.monotonic() + 5
    while (response := _status(c, token)).status_code == 200:
        assert time.monotonic() < deadline, "the revocation was never seen"
        time.sleep(0.01)
    return response


def test_logout_pushed_through_redis_reaches_the_gateway(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    need_redis()
    import redis.asyncio as aioredis

    from jotgate.middleware.redis_revocations import publish_revocation

    # A channel and key prefix of this test's own: other suites share this Redis.
    unique = uuid.uuid4().hex
    channel, prefix = f"test:{unique}:channel", f"test:{unique}:revoked:"
    gw = make_gateway(
        [f"/api={upstream.url}"],
        redis_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
        revocation_channel=channel,
        revocation_key_prefix=prefix,
    )
    token, other = stand_in.token(sid=f"s-{unique}"), stand_in.token(sid="someone-else")

    async def publish() -> None:
        client = aioredis.from_url(f"redis://{REDIS_HOST}:{REDIS_PORT}/0")
        try:
            exp = time.time() + 900
            await publish_revocation(
                client, sid=f"s-{unique}", exp=exp, channel=channel, key_prefix=prefix
            )
        finally:
            await client.aclose()

    with httpx.Client(base_url=gw.url) as c:
        assert _status(c, token).status_code == 200
        asyncio.run(publish())
        response = _wait_refused(c, token)
        assert response.json()["error"] == "token_revoked"
        assert _status(c, other).status_code == 200
    # Pushed: this gateway's feed is Redis, it polls nothing.
    assert type(gw.app.auth.verifier.revocations).__name__ == "RedisRevocations"


def test_logout_polled_from_the_auth_server_without_a_lookup_per_request(
    upstream: Served, signing_keys: list[jwk.Key]
) -> None:
    # An auth server of its own, so every poll it counts is this gateway's.
    stand_in = AuthStandIn([signing_keys[0]])
    auth = ServerThread(stand_in).start()
    stand_in.url = auth.url
    gw = start_gateway(auth.url, [f"/api={upstream.url}"], revocation_poll_interval=0.5)
    token = stand_in.token(sid="polled-session")
    try:
        with httpx.Client(base_url=gw.url) as c:
            polls = stand_in.revocation_polls
            for _ in range(100):
                assert _status(c, token).status_code == 200
            # Polls follow the clock (one per 0.5 s), not the traffic.
            assert stand_in.revocation_polls - polls < 50
            stand_in.revoked.append({"sid": "polled-session", "exp": time.time() + 900})
            response = _wait_refused(c, token)
            assert response.json()["error"] == "token_revoked"
    finally:
        gw.thread.stop()
        auth.stop()
