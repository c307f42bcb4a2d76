"""Fixtures: a real gateway (its own server, as ``jotgate gateway``) before real upstreams."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from jotgate import jwk
from jotgate.gateway import Gateway, load

from .servers import AuthStandIn, GatewayThread, ServerThread, Upstream

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def need_redis() -> None:
    """Skip when Redis is not listening; under CI=true fail instead."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1):
            return
    except OSError:
        message = f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: required)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def signing_keys() -> list[jwk.Key]:
    """Two ES256 keys: "k1" signs by default, "k2" is the next one in a rotation."""
    return [jwk.Key.generate("ES256", kid="k1"), jwk.Key.generate("ES256", kid="k2")]


@dataclass
class Served:
    """A running server and the object behind it."""

    app: Any
    thread: ServerThread | GatewayThread

    @property
    def url(self) -> str:
        return self.thread.url


@pytest.fixture(scope="session")
def auth_server(signing_keys: list[jwk.Key]) -> Iterator[Served]:
    stand_in = AuthStandIn([signing_keys[0]])
    thread = ServerThread(stand_in).start()
    stand_in.url = thread.url
    yield Served(stand_in, thread)
    thread.stop()


@pytest.fixture(scope="session")
def upstream() -> Iterator[Served]:
    app = Upstream()
    thread = ServerThread(app).start()
    yield Served(app, thread)
    thread.stop()


GatewayFactory = Callable[..., Served]


def start_gateway(
    auth_url: str, routes: Sequence[str], public: Sequence[str] = (), **settings: Any
) -> Served:
    """A gateway on a free port with ``settings`` (config keys) and route flags."""
    values: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "auth_server": auth_url,
        "revocation_poll_interval": 0.1,
        "upstream_timeout": 5,
        "connect_timeout": 2,
    }
    values.update(settings)
    app = Gateway(load(None, values, routes=routes, public_routes=public))
    return Served(app, GatewayThread(app).start())


@pytest.fixture
def make_gateway(auth_server: Served) -> Iterator[GatewayFactory]:
    """``make_gateway(routes, public, **settings)``: a gateway stopped at teardown."""
    started: list[Served] = []

    def make(routes: Sequence[str], public: Sequence[str] = (), **settings: Any) -> Served:
        settings.setdefault("auth_server", auth_server.url)
        served = start_gateway(settings.pop("auth_server"), routes, public, **settings)
        started.append(served)
        return served

    yield make
    for served in started:
        served.thread.stop()


@pytest.fixture(scope="session")
def gateway(auth_server: Served, upstream: Served) -> Iterator[Served]:
    """The gateway most tests share: one route of each kind, all to the echo upstream."""
    up = upstream.url
    served = start_gateway(
        auth_server.url,
        routes=[
            f"/api={up}",
            f"/admin={up} roles=admin",
            f"/notes/write={up} scopes=notes:write",
            f"/keep={up} keep_authorization",
            f"/api/v2={up}/v2 strip_prefix",
        ],
        public=[f"/public={up}", f"/strip={up} strip_prefix"],
        strip_headers="X-Tenant-Id,X-Internal-*",
    )
    yield served
    served.thread.stop()


@pytest.fixture
def client(gateway: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, trust_env=False, timeout=10) as c:
        yield c


@pytest.fixture
def stand_in(auth_server: Served) -> AuthStandIn:
    app: AuthStandIn = auth_server.app
    return app
