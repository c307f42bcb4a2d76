"""End to end with the real jotgate auth server behind the gateway (flow step 7).

A client logs in, calls a service and logs out, all through the gateway's
one origin; the service sees the user's id, never the token; after the
logout the gateway refuses the still-unexpired access token within a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jotgate import jwt

from .conftest import REDIS_HOST, REDIS_PORT, Served, need_redis, start_gateway
from .servers import ServerThread, header_values

PASSWORD = "correct horse battery staple"
CLIENT_SECRET = "gateway-secret-0123456789"
ISSUER = "http://jotgate-auth.test"


def _auth_server(tmp_path: Path, **extra: Any) -> ServerThread:
    from jotgate.server import Settings, create_app

    settings = Settings.validated(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
            "issuer": ISSUER,
            "audience": "jotgate",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
            "argon2_parallelism": 1,
            "introspection_clients": f"gateway:{CLIENT_SECRET}",
            **extra,
        }
    )
    return ServerThread(create_app(settings), lifespan="on").start()


@pytest.fixture(params=["polling", "redis"])
def front_door(request: pytest.FixtureRequest, tmp_path: Path, upstream: Served) -> Iterator[str]:
    """The gateway's URL, in front of a real auth server and the echo service."""
    redis: dict[str, Any] = {}
    if request.param == "redis":
        need_redis()
        redis = {"redis_url": f"redis://{REDIS_HOST}:{REDIS_PORT}/0"}
    auth = _auth_server(tmp_path, **redis)
    gateway = start_gateway(
        auth.url,
        [f"/api={upstream.url}"],
        issuer=ISSUER,
        client_id="gateway",
        client_secret=CLIENT_SECRET,
        revocation_poll_interval=0.2,
        **redis,
    )
    try:
        yield gateway.url
    finally:
        gateway.thread.stop()
        auth.stop()


def test_login_call_and_logout_through_the_gateway(front_door: str) -> None:
    with httpx.Client(base_url=front_door, timeout=10) as c:
        credentials = {"username": "alice", "password": PASSWORD}
        assert c.post("/auth/register", json=credentials).status_code == 201
        login = c.post("/auth/login", json=credentials)
        assert login.status_code == 200, login.text
        access = login.json()["access_token"]
        claims = jwt.decode_unverified(access)[1]
        bearer = {"Authorization": f"Bearer {access}"}

        echo = c.get("/api/notes", headers={**bearer, "X-User-Id": "someone-else"}).json()
        assert header_values(echo, "x-user-id") == [claims["sub"]]
        assert header_values(echo, "x-session-id") == [claims["sid"]]
        assert header_values(echo, "authorization") == []
        assert c.get("/_jotgate/verify", headers=bearer).headers["x-user-id"] == claims["sub"]
        assert c.get("/auth/me", headers=bearer).json()["username"] == "alice"

        assert c.post("/auth/logout", headers=bearer).status_code in (200, 204)
        deadline = time.monotonic() + 5  # a stop for a hang; the promise is one second
        while (response := c.get("/api/notes", headers=bearer)).status_code == 200:
            assert time.monotonic() < deadline, "the logout never reached the gateway"
            time.sleep(0.02)
        assert response.status_code == 401
        assert response.json()["error"] == "token_revoked"


def test_the_issues_plain_command_follows_logouts_by_polling(
    tmp_path: Path, upstream: Served
) -> None:
    # `jotgate gateway --auth-server URL --route ...` and nothing else: the
    # server's feed is public by default, so logout reaches the gateway.
    auth = _auth_server(tmp_path)
    gateway = start_gateway(
        auth.url, [f"/api={upstream.url}"], issuer=ISSUER, revocation_poll_interval=0.2
    )
    try:
        with httpx.Client(base_url=gateway.url) as c:
            credentials = {"username": "poll-only", "password": "a long passphrase, surely"}
            assert c.post("/auth/register", json=credentials).status_code == 201
            access = c.post("/auth/login", json=credentials).json()["access_token"]
            bearer = {"Authorization": f"Bearer {access}"}
            assert c.get("/api/notes", headers=bearer).status_code == 200
            assert c.post("/auth/logout", headers=bearer).status_code == 204
            deadline = time.monotonic() + 1.5
            while (response := c.get("/api/notes", headers=bearer)).status_code == 200:
                assert time.monotonic() < deadline, "the logout never reached the gateway"
                time.sleep(0.02)
        assert response.json()["error"] == "token_revoked"
    finally:
        gateway.thread.stop()
        auth.stop()


def test_without_client_credentials_a_private_feed_is_refused_and_says_why(
    tmp_path: Path, upstream: Served, caplog: pytest.LogCaptureFixture
) -> None:
    auth = _auth_server(tmp_path, revocation_feed="clients")
    gateway = start_gateway(auth.url, [f"/api={upstream.url}"], issuer=ISSUER)
    try:
        health = httpx.get(gateway.url + "/healthz").json()
        assert health["revocations"] == "starting"  # the gateway runs, and says so
        messages = [r.getMessage() for r in caplog.records if r.name == "jotgate.gateway"]
        assert any("answered 401 - set client_id" in m for m in messages), messages
    finally:
        gateway.thread.stop()
        auth.stop()
