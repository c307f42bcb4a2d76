"""POST /auth/refresh is a plain Starlette route that answers exactly like its FastAPI twin.

The twin (in ``routes.auth.router``) is what the OpenAPI document describes;
the plain route matches first. Every body FastAPI would judge one way, the
plain route must judge the same way: same status, code and message.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from .conftest import Server

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}

BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b"", {}),
    (b"", JSON),
    (b"null", JSON),
    (b"{}", JSON),
    (b'{"refresh_token": null}', JSON),
    (b"{not json", JSON),
    (b"\xff\xfe\x00", JSON),
    (b"[]", JSON),
    (b'"a string"', JSON),
    (b"42", JSON),
    (b'{"refresh_token": 1}', JSON),
    (b'{"refresh_token": ["x"]}', JSON),
    (b'{"refresh_token": "x", "admin": true}', JSON),
    (b'{"refresh_token": "' + b"a" * 600 + b'"}', JSON),
    (b'{"refresh_token": "not-a-real-token"}', JSON),
    (b'{"refresh_token": "not-a-real-token"}', {}),
    (b'{"refresh_token": "not-a-real-token"}', {"content-type": "application/vnd.x+json"}),
    (b"{not json", {}),
    (b"refresh_token=x", {"content-type": "application/x-www-form-urlencoded"}),
    (b'{"refresh_token": "x"}', {"content-type": "text/plain"}),
    (b'{"refresh_token": "\\u0000\\u001f"}', JSON),
]


def _plain_routes(server: Server) -> list[Any]:
    return [
        r
        for r in server.app.router.routes
        if getattr(r, "path", "") == "/auth/refresh" and not isinstance(r, APIRoute)
    ]


async def _answers(server: Server) -> list[tuple[int, str, str]]:
    out = []
    for content, headers in BODIES:
        response = await server.client.post("/auth/refresh", content=content, headers=headers)
        body = response.json()
        assert set(body) == {"error", "message"}, (content, body)
        assert response.headers["cache-control"] == "no-store"
        out.append((response.status_code, body["error"], body["message"]))
    return out


async def test_the_plain_route_comes_first_and_the_twin_is_in_openapi(server: Server) -> None:
    routes = [r for r in server.app.router.routes if getattr(r, "path", "") == "/auth/refresh"]
    assert isinstance(routes[0], Route)
    assert not isinstance(routes[0], APIRoute)
    document = (await server.client.get("/openapi.json")).json()
    operation = document["paths"]["/auth/refresh"]["post"]
    assert operation["requestBody"]["content"]["application/json"]
    assert "TokenResponse" in str(operation["responses"]["200"])


async def test_bad_bodies_get_the_same_answers_from_both_routes(server: Server) -> None:
    plain = await _answers(server)
    assert all(400 <= status < 500 for status, _, _ in plain)
    for route in _plain_routes(server):
        server.app.router.routes.remove(route)
    twin = await _answers(server)
    assert plain == twin


async def _refresh_answer(server: Server, refresh_token: str) -> tuple[int, dict[str, Any], Any]:
    response = await server.client.post("/auth/refresh", json={"refresh_token": refresh_token})
    return response.status_code, response.json(), response.headers


async def test_a_refresh_answers_the_same_shape_from_both_routes(server: Server) -> None:
    tokens = await server.signup()
    status, plain, plain_headers = await _refresh_answer(server, tokens["refresh_token"])
    assert status == 200
    for route in _plain_routes(server):
        server.app.router.routes.remove(route)
    status, twin, twin_headers = await _refresh_answer(server, plain["refresh_token"])
    assert status == 200
    assert (
        list(plain)
        == list(twin)
        == [
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
        ]
    )
    assert {k: type(v) for k, v in plain.items()} == {k: type(v) for k, v in twin.items()}
    for name in ("cache-control", "pragma", "content-type"):
        assert plain_headers[name] == twin_headers[name]
