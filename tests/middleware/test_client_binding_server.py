"""Tokens the real auth server binds (fingerprint cookie, user agent, address), verified here.

The server runs in uvicorn on 127.0.0.1 with ``TOKEN_TRANSPORT=cookie``,
``TOKEN_FINGERPRINT=on`` and ``BIND_TOKENS`` = ``user-agent`` or ``ip``; the
login's cookies and access token are then presented to the ASGI middleware
and to Flask, with and without the fingerprint, from other user agents and
other addresses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jotgate import jwk, jwt
from jotgate.middleware import AuthMiddleware, Verifier
from jotgate.middleware.flask import current_claims
from jotgate.middleware.flask import require_token as flask_require_token

ISSUER = "http://jotgate-auth.test"
PASSWORD = "correct horse battery staple"
UA = "BindingTest/1.0 (X11; Linux)"


class ServerThread:
    """``app`` in uvicorn on 127.0.0.1:<free port>, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", loop="asyncio")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the auth server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


class Login:
    """A logged-in browser: its access token, fingerprint cookie value and claims."""

    def __init__(self, url: str) -> None:
        self.url = url
        with httpx.Client(base_url=url, timeout=10, headers={"User-Agent": UA}) as client:
            credentials = {"username": "alice", "password": PASSWORD}
            assert client.post("/auth/register", json=credentials).status_code == 201
            answer = client.post("/auth/login", json=credentials)
            assert answer.status_code == 200, answer.text
            self.access = client.cookies["jotgate_access"]
            self.fingerprint = client.cookies["jotgate_fgp"]
            jwks = client.get("/.well-known/jwks.json").json()
        self.claims = jwt.decode_unverified(self.access)[1]
        self.keys = jwk.KeySet.from_jwks(jwks)
        self.algorithms = sorted({key["alg"] for key in jwks["keys"] if "alg" in key})

    def verifier(self) -> Verifier:
        return Verifier(
            self.keys,
            algorithms=self.algorithms or ["ES256", "EdDSA", "RS256", "PS256"],
            issuer=ISSUER,
            audience="jotgate",
            typ="at+jwt",
        )


def _server(tmp_path: Path, bind: str) -> ServerThread:
    from jotgate.server import Settings, create_app

    settings = Settings.validated(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
            "issuer": ISSUER,
            "audience": "jotgate",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
            "argon2_parallelism": 1,
            "token_transport": "cookie",
            "token_fingerprint": "on",
            "bind_tokens": bind,
        }
    )
    return ServerThread(create_app(settings)).start()


@pytest.fixture(params=["user-agent", "ip"])
def login(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Login]]:
    server = _server(tmp_path, request.param)
    try:
        yield request.param, Login(server.url)
    finally:
        server.stop()


def _starlette(verifier: Verifier, **options: Any) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["jotgate.claims"].sub})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AuthMiddleware, verifier=verifier, **options)
    return app


@pytest.mark.anyio
async def test_asgi_middleware_enforces_the_servers_bindings(login: tuple[str, Login]) -> None:
    bind, session = login
    assert {"fgp", "bnd"} <= set(session.claims)
    # The browser's way: both cookies (the middleware reads the access cookie).
    app = _starlette(session.verifier(), cookie="jotgate_access")

    async def call(cookies: str, user_agent: str = UA, peer: str = "127.0.0.1") -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        headers = {"Cookie": cookies, "User-Agent": user_agent}
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            return await http.get("/me", headers=headers)

    both = f"jotgate_access={session.access}; jotgate_fgp={session.fingerprint}"
    good = await call(both)
    assert (good.status_code, good.json()) == (200, {"sub": session.claims["sub"]})
    stolen = await call(f"jotgate_access={session.access}")  # the token alone (XSS, a log)
    assert (stolen.status_code, stolen.json()["error"]) == (401, "invalid_token")
    assert "bound to another client" in stolen.json()["message"]
    forged = await call(f"jotgate_access={session.access}; jotgate_fgp={'A' * 43}")
    assert forged.status_code == 401
    if bind == "user-agent":
        other = await call(both, user_agent="curl/8.5.0")
        assert (await call(both, peer="198.51.100.7")).status_code == 200  # any address
    else:
        other = await call(both, peer="198.51.100.7")
        assert (await call(both, user_agent="curl/8.5.0")).status_code == 200
    assert (other.status_code, other.json()["error"]) == (401, "invalid_token")
    assert "bound to another client" in other.json()["message"]


def test_flask_enforces_the_servers_bindings(login: tuple[str, Login]) -> None:
    bind, session = login
    app = Flask(__name__)

    @app.get("/me")
    @flask_require_token(session.verifier())
    def me() -> dict[str, Any]:
        return {"sub": current_claims().sub}

    http = app.test_client()
    bearer = {"Authorization": f"Bearer {session.access}", "User-Agent": UA}
    local = {"REMOTE_ADDR": "127.0.0.1"}
    missing = http.get("/me", headers=bearer, environ_base=local)
    assert (missing.status_code, missing.json["error"]) == (401, "invalid_token")
    http.set_cookie("jotgate_fgp", session.fingerprint)
    good = http.get("/me", headers=bearer, environ_base=local)
    assert good.json == {"sub": session.claims["sub"]}
    if bind == "user-agent":
        other = http.get("/me", headers={**bearer, "User-Agent": "curl/8"}, environ_base=local)
    else:
        other = http.get("/me", headers=bearer, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert (other.status_code, other.json["error"]) == (401, "invalid_token")
