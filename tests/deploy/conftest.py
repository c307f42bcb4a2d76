"""Fixtures: the shipped nginx config on a real nginx, a real auth server, a real upstream.

The auth server is jotgate's own app under uvicorn on SQLite in a temp dir; the
upstream echoes the headers it received; nginx runs deploy/nginx/ as shipped
with only the addresses filled in. They are started once per session (nginx
and uvicorn take a while on a shared 2-core machine); each test makes its own
user, so tests do not see each other's sessions.

Without nginx the tests skip with the reason, except under ``CI=true``, where
CI has installed nginx and a missing one is a failure.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jotgate import jwt

from .servers import Nginx, ServerThread, echo_app, nginx_binary

PASSWORD = "correct horse battery staple"
AUDIENCE = "jotgate"


def _need_nginx() -> str:
    """The nginx to test with, or skip (fail under CI=true) saying what is missing."""
    binary = nginx_binary()
    problem = None
    if binary is None:
        problem = "nginx is not installed (apt-get install -y nginx)"
    else:
        version = subprocess.run(
            [binary, "-V"], capture_output=True, text=True, timeout=10, check=False
        )
        if "--with-http_auth_request_module" not in version.stderr:
            problem = f"{binary} was built without the auth_request module"
    if problem is None:
        assert binary is not None
        return binary
    if os.environ.get("CI") == "true":
        pytest.fail(problem + " (CI=true: required)")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def nginx() -> str:
    """The nginx executable; skips (or fails under CI=true) when there is none."""
    return _need_nginx()


def auth_server(tmp: Path, **overrides: Any) -> ServerThread:
    """A real jotgate auth server on SQLite in ``tmp``, trusting nginx's X-Forwarded-For."""
    from jotgate.server import Settings, create_app

    settings = Settings.validated(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp / 'auth.db'}",
            "issuer": "http://jotgate-edge.test",
            "audience": AUDIENCE,
            # Cheap hashing: these tests are about the edge, not the password store.
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
            "argon2_parallelism": 1,
            "token_transport": "both",
            "trusted_proxies": "127.0.0.1/32",
            **overrides,
        }
    )
    return ServerThread(create_app(settings), lifespan="on").start()


@dataclass
class Stack:
    """nginx in front of the auth server and the echo upstream."""

    edge: Nginx
    auth: ServerThread
    upstream: ServerThread

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.edge.url, timeout=10)


@pytest.fixture(scope="session")
def upstream() -> Iterator[ServerThread]:
    server = ServerThread(echo_app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The auth server every default-stack test shares (each test signs up its own user)."""
    server = auth_server(tmp_path_factory.mktemp("auth"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(
    nginx: str,
    auth: ServerThread,
    upstream: ServerThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The default stack: the shipped config over a default-configured auth server."""
    edge = Nginx(nginx, tmp_path_factory.mktemp("nginx"), auth=auth.address, app=upstream.address)
    try:
        edge.start()
        yield Stack(edge, auth, upstream)
    finally:
        edge.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


@dataclass
class User:
    """A user registered and logged in through nginx (the auth server's one origin)."""

    id: str
    access_token: str
    refresh_token: str
    claims: dict[str, Any]
    #: The cookies the login set, with their paths (cookie mode).
    cookies: list[http.cookiejar.Cookie]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_up(client: httpx.Client, auth: ServerThread, roles: tuple[str, ...] = ()) -> User:
    """Register a fresh user through nginx's /auth/ location, give it ``roles``, log in."""
    username = "u" + uuid.uuid4().hex[:12]
    credentials = {"username": username, "password": PASSWORD}
    registered = client.post("/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["id"]
    if roles:
        runtime = auth.app.state.runtime
        auth.call(runtime.users.set_roles(user_id, list(roles)))
    login = client.post("/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    tokens = login.json()
    # Cookie mode (transport "both"): the same login also set HttpOnly cookies.
    cookies = list(login.cookies.jar)
    client.cookies.clear()  # each test chooses how it presents the token
    access = tokens["access_token"]
    claims = jwt.decode_unverified(access)[1]
    return User(user_id, access, tokens["refresh_token"], claims, cookies)


def expired_token(auth: ServerThread, user: User) -> str:
    """A genuine access token for ``user``'s session, issued by the server, already expired.

    The server's own TokenService signs it with its real key, as if issued 20
    minutes ago with the default 15-minute lifetime: no clock games, no sleep.
    """
    runtime = auth.app.state.runtime
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    token, _lifetime = auth.call(
        runtime.tokens.issue_access(
            user_id=user.id,
            session_id=user.claims["sid"],
            roles=[],
            now=issued,
            not_after=issued + dt.timedelta(days=1),
        )
    )
    return str(token)
