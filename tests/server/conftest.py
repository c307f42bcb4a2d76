"""Fixtures for the auth server: real apps on real SQLite, PostgreSQL and Redis.

Apps run in-process through ``httpx.ASGITransport`` with their lifespan, so a
test talks HTTP to exactly what ``jotgate serve`` runs. PostgreSQL and Redis
tests skip with a reason when those are unreachable, and fail instead when
``CI=true``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jotgate.server import Settings, create_app
from jotgate.server.runtime import Runtime

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PASSWORD = "correct horse battery staple"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) when a real service is not listening."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: required)")
    pytest.skip(message)


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Fast settings: a fresh SQLite file, cheap argon2 (tests only)."""
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
        "issuer": "http://testserver",
        "audience": "jotgate-test",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "argon2_parallelism": 1,
    }
    values.update(overrides)
    return Settings.validated(values)


test_settings.__test__ = False  # type: ignore[attr-defined]


@dataclass
class Server:
    """A running app, its HTTP client and its runtime (for checks on stored data)."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def register(self, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/register", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login(self, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def signup(self, username: str = "alice") -> dict[str, Any]:
        await self.register(username)
        return await self.login(username)


@asynccontextmanager
async def running(settings: Settings, base_url: str = "http://testserver") -> AsyncIterator[Server]:
    """Start an app (lifespan included) and a client bound to it.

    ``base_url`` https: the client's cookie jar sends back ``Secure`` cookies.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url=base_url,
            headers={"user-agent": "pytest-client/1.0"},
        ) as client:
            yield Server(app=app, client=client, settings=settings)


ServerFactory = Callable[..., Any]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A fresh server on its own SQLite database."""
    async with running(test_settings(tmp_path)) as srv:
        yield srv


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    need_service("PostgreSQL", PG_HOST, PG_PORT)
    import asyncpg

    name = f"jotgate_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def redis_url() -> str:
    """The shared Redis (keys the server writes are random session ids)."""
    need_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
