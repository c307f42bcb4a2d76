"""A running gateway follows key rotation, survives its auth server going away, and load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from jotgate import jwk

from .conftest import GatewayFactory, Served, start_gateway
from .servers import AuthStandIn, ServerThread, header_values


@pytest.fixture
def own_auth(signing_keys: list[jwk.Key]) -> Iterator[Served]:
    """An auth stand-in this test alone changes (keys, availability)."""
    stand_in = AuthStandIn([signing_keys[0]], jwks_max_age=1)
    thread = ServerThread(stand_in).start()
    stand_in.url = thread.url
    yield Served(stand_in, thread)
    thread.stop()


def _status(c: httpx.Client, token: str) -> int:
    return c.get("/api/x", headers={"Authorization": f"Bearer {token}"}).status_code


def test_rotation_new_kid_is_picked_up_and_old_honoured_until_removed(
    own_auth: Served, upstream: Served, signing_keys: list[jwk.Key]
) -> None:
    stand_in: AuthStandIn = own_auth.app
    old, new = signing_keys
    gw = start_gateway(own_auth.url, [f"/api={upstream.url}"], jwks_cooldown=0, jwks_min_age=0.2)
    try:
        with httpx.Client(base_url=gw.url) as c:
            assert _status(c, stand_in.token(old)) == 200
            assert _status(c, stand_in.token(new)) == 401  # not published yet
            stand_in.keys = [old, new]  # the server publishes its next key...
            assert _status(c, stand_in.token(new)) == 200  # ...an unknown kid refetches
            assert _status(c, stand_in.token(old)) == 200  # the old one still counts
            stand_in.keys = [new]  # ...and retires the old key
            deadline = time.monotonic() + 5  # the JWKS said max-age=1
            while _status(c, stand_in.token(old)) == 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _status(c, stand_in.token(old)) == 401
            assert _status(c, stand_in.token(new)) == 200
    finally:
        gw.thread.stop()


def test_auth_server_down_cached_keys_keep_verifying(own_auth: Served, upstream: Served) -> None:
    stand_in: AuthStandIn = own_auth.app
    gw = start_gateway(own_auth.url, [f"/api={upstream.url}"], jwks_cooldown=0, jwks_min_age=0.2)
    try:
        with httpx.Client(base_url=gw.url) as c:
            assert _status(c, stand_in.token()) == 200
            own_auth.thread.stop()
            time.sleep(1.2)  # past the JWKS max-age: the keys are stale now, not gone
            for _ in range(3):  # fresh tokens: not answered from the verifier's cache
                assert _status(c, stand_in.token()) == 200
            unknown = stand_in.token(jwk.Key.generate("ES256", kid="k-unknown"))
            assert _status(c, unknown) == 401  # refused, never a 5xx
            assert c.get("/_jotgate/verify", headers=_bearer(stand_in.token())).status_code == 200
            assert c.get("/auth/me").status_code == 502  # the pass-through cannot reach it
            assert c.get("/healthz").status_code == 200
    finally:
        gw.thread.stop()


def test_gateway_started_before_its_auth_server_still_starts(
    make_gateway: GatewayFactory, upstream: Served
) -> None:
    gw = make_gateway([f"/api={upstream.url}"], auth_server="http://127.0.0.1:9")
    with httpx.Client(base_url=gw.url) as c:
        assert c.get("/healthz").json()["revocations"] == "starting"
        response = c.get("/api/x", headers=_bearer("a.b.c"))
        assert response.status_code == 401


def test_200_requests_20_at_a_time_keep_their_own_identities(
    gateway: Served, stand_in: AuthStandIn
) -> None:
    tokens = [stand_in.token(sub=f"user-{i}", sid=f"s-{i}") for i in range(40)]

    async def run() -> list[tuple[int, str, list[str]]]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=gateway.url, limits=limits, timeout=30) as c:
            gate = asyncio.Semaphore(20)

            async def one(i: int) -> tuple[int, str, list[str]]:
                async with gate:
                    path = "/api/x" if i % 4 else "/public/x"
                    body = b"p" * (i * 100)
                    response = await c.post(
                        path, content=body, headers=_bearer(tokens[i % len(tokens)])
                    )
                    echo = response.json()
                    assert echo["body_size"] == len(body)
                    return i, str(response.status_code), header_values(echo, "x-user-id")

            return await asyncio.gather(*(one(i) for i in range(200)))

    results = asyncio.run(run())
    assert [status for _, status, _ in results] == ["200"] * 200
    for i, _, user in results:
        expected = [] if i % 4 == 0 else [f"user-{i % len(tokens)}"]
        assert user == expected, f"request {i} carried {user}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
