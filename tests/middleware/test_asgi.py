"""AuthMiddleware under Starlette: the answers of DESIGN.md, scopes, cookies, websockets."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from jotgate.middleware import AuthMiddleware, RevocationList, Verifier, claims_from_scope

from .conftest import MakeToken, make_verifier


async def whoami(request: Request) -> JSONResponse:
    claims = claims_from_scope(request.scope)
    return JSONResponse({"sub": None if claims is None else claims.sub})


async def echo(request: Request) -> Response:
    # Streams the body back chunk by chunk: the middleware must not have read it.
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"size": size})


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    claims = claims_from_scope(websocket.scope)
    await websocket.send_json({"sub": None if claims is None else claims.sub})
    await websocket.close()


ROUTES = [
    Route("/me", whoami),
    Route("/healthz", whoami),
    Route("/public/info", whoami),
    Route("/echo", echo, methods=["POST"]),
    WebSocketRoute("/ws", socket),
]


def make_app(verifier: Verifier, **options: Any) -> Starlette:
    return Starlette(
        routes=ROUTES, middleware=[Middleware(AuthMiddleware, verifier=verifier, **options)]
    )


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


@pytest.mark.anyio
async def test_a_valid_token_puts_claims_in_the_scope(
    make_token: MakeToken, verifier: Verifier
) -> None:
    async with client(make_app(verifier)) as http:
        answer = await http.get("/me", headers=bearer(make_token(sub="u-7")))
    assert answer.status_code == 200
    assert answer.json() == {"sub": "u-7"}


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_the_scheme_is_case_insensitive(
    make_token: MakeToken, verifier: Verifier, scheme: str
) -> None:
    async with client(make_app(verifier)) as http:
        answer = await http.get("/me", headers=bearer(make_token(sub="u-8"), scheme))
    assert answer.json() == {"sub": "u-8"}


@pytest.mark.anyio
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
async def test_no_credentials_is_missing_token_without_an_error_code(
    verifier: Verifier, headers: dict[str, str]
) -> None:
    async with client(make_app(verifier)) as http:
        answer = await http.get("/me", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"] == "missing_token"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_an_expired_token_is_token_expired_with_a_configurable_status(
    make_token: MakeToken, verifier: Verifier
) -> None:
    expired = make_token(lifetime=-10)
    async with client(make_app(verifier)) as http:
        default = await http.get("/me", headers=bearer(expired))
    async with client(make_app(verifier, expired_status=419)) as http:
        node_style = await http.get("/me", headers=bearer(expired))
    for answer, status in ((default, 401), (node_style, 419)):
        assert answer.status_code == status
        assert answer.json()["error"] == "token_expired"
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.anyio
@pytest.mark.parametrize(
    "overrides",
    [{"aud": "another-api"}, {"typ": "JWT"}, {"roles": "admin"}, {"iss": "https://evil.test"}],
)
async def test_bad_tokens_are_invalid_token_and_never_echoed(
    make_token: MakeToken, verifier: Verifier, overrides: dict[str, Any]
) -> None:
    token = make_token(**overrides)
    async with client(make_app(verifier, expired_status=419)) as http:
        answer = await http.get("/me", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    for part in token.split("."):
        assert part not in answer.text
        assert part not in answer.headers["www-authenticate"]


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "é.x.y", "x" * 70_000])
async def test_garbage_is_invalid_token(verifier: Verifier, token: str) -> None:
    async with client(make_app(verifier)) as http:
        answer = await http.get("/me", headers={"Authorization": f"Bearer {token}".encode()})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"


@pytest.mark.anyio
async def test_a_revoked_session_is_token_revoked_even_when_cached(
    make_token: MakeToken,
) -> None:
    revoked = RevocationList()
    token = make_token(sid="s-out")
    async with client(make_app(make_verifier(revocations=revoked))) as http:
        assert (await http.get("/me", headers=bearer(token))).status_code == 200
        revoked.revoke(sid="s-out", until=time.time() + 900)
        answer = await http.get("/me", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"] == "token_revoked"
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.anyio
async def test_the_token_may_come_from_a_cookie_but_the_header_wins(
    make_token: MakeToken, verifier: Verifier
) -> None:
    app = make_app(verifier, cookie="access_token")
    async with client(app) as http:
        from_cookie = await http.get(
            "/me", headers={"Cookie": f"theme=dark; access_token={make_token(sub='c-1')}"}
        )
        both = await http.get(
            "/me",
            headers={
                "Cookie": f"access_token={make_token(sub='c-2')}",
                **bearer(make_token(sub="h-2")),
            },
        )
        other_cookie = await http.get("/me", headers={"Cookie": "session=abc"})
    assert from_cookie.json() == {"sub": "c-1"}
    assert both.json() == {"sub": "h-2"}
    assert other_cookie.json()["error"] == "missing_token"


@pytest.mark.anyio
async def test_excluded_paths_and_optional_mode(make_token: MakeToken, verifier: Verifier) -> None:
    async with client(make_app(verifier, exclude=("/healthz", "/public/"))) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/public/info")).status_code == 200
        assert (await http.get("/me")).status_code == 401
    async with client(make_app(verifier, required=False)) as http:
        assert (await http.get("/me")).json() == {"sub": None}
        bad = await http.get("/me", headers=bearer(make_token(lifetime=-1)))
        assert bad.json()["error"] == "token_expired", "a bad token is refused even if optional"


@pytest.mark.anyio
async def test_request_bodies_stream_through_unread(
    make_token: MakeToken, verifier: Verifier
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 16384

    async with client(make_app(verifier)) as http:
        answer = await http.post("/echo", content=body(), headers=bearer(make_token()))
    assert answer.json() == {"size": 64 * 16384}


def test_lifespan_passes_through(verifier: Verifier) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=ROUTES, lifespan=lifespan)
    app.add_middleware(AuthMiddleware, verifier=verifier)
    with TestClient(app):
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]


def test_websockets_carry_claims_or_are_refused(make_token: MakeToken, verifier: Verifier) -> None:
    with TestClient(make_app(verifier, expired_status=419)) as http:
        with http.websocket_connect("/ws", headers=bearer(make_token(sub="ws-1"))) as ws:
            assert ws.receive_json() == {"sub": "ws-1"}
        # The TestClient supports the websocket.http.response extension: a real 4xx answer.
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            http.websocket_connect("/ws", headers=bearer(make_token(lifetime=-1))),
        ):
            pass
        assert denied.value.status_code == 419
        assert denied.value.json()["error"] == "token_expired"


@pytest.mark.anyio
async def test_websockets_without_the_denial_extension_close_with_1008(
    verifier: Verifier,
) -> None:
    sent: list[dict[str, Any]] = []
    inbox = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "extensions": {}}
    await AuthMiddleware(make_app(verifier), verifier)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "missing_token"}]
