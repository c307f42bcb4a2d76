"""POST /auth/token speaks RFC 6749: form bodies, §5.1 answers, §5.2 errors."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def token(server: Server, data: dict[str, str], **kwargs: Any) -> httpx.Response:
    return await server.client.post("/auth/token", data=data, **kwargs)


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_description"] == body["message"]
    assert response.headers["cache-control"] == "no-store"


async def test_password_grant_answers_per_rfc6749_section_5_1(server: Server) -> None:
    await server.register()
    response = await token(
        server, {"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert "scope" not in body  # no roles, nothing to tell
    me = await server.client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200


async def test_roles_come_back_as_scope(server: Server) -> None:
    await server.runtime.users.register("alice", PASSWORD, roles=["admin", "ops"])
    response = await token(
        server,
        {"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "x"},
    )
    assert response.json()["scope"] == "admin ops"


async def test_refresh_token_grant_rotates(server: Server) -> None:
    first = await server.signup()
    response = await token(
        server, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != first["refresh_token"]
    reused = await token(
        server, {"grant_type": "refresh_token", "refresh_token": "not-a-real-token"}
    )
    assert_oauth_error(reused, 400, "invalid_grant")


async def test_wrong_password_is_invalid_grant(server: Server) -> None:
    await server.register()
    response = await token(
        server, {"grant_type": "password", "username": "alice", "password": "nope, wrong"}
    )
    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "alice"}, "invalid_request"),
        ({"grant_type": "password", "password": "x"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": ""}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
    ],
)
async def test_bad_requests_get_rfc6749_errors(
    server: Server, data: dict[str, str], error: str
) -> None:
    assert_oauth_error(await token(server, data), 400, error)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"grant_type": "password"}', {"Content-Type": "application/json"}),
        (b"grant_type=password&grant_type=refresh_token", FORM),  # repeated (§3.2)
        (b"grant_type=%FF", FORM),  # not UTF-8
        (b"grant_type", FORM),  # no '='
        (b"\xff\xfe", FORM),
        (b"a=1&" * 40, FORM),  # too many fields
    ],
)
async def test_malformed_bodies_are_invalid_request(
    server: Server, content: bytes, headers: dict[str, str]
) -> None:
    response = await server.client.post("/auth/token", content=content, headers=headers)
    assert_oauth_error(response, 400, "invalid_request")


async def test_unknown_parameters_are_ignored(server: Server) -> None:
    await server.register()
    response = await token(
        server,
        {"grant_type": "password", "username": "alice", "password": PASSWORD, "colour": "red"},
    )
    assert response.status_code == 200


async def test_wrong_client_credentials_are_invalid_client(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, introspection_clients="api:an api secret of length")
    async with running(settings) as server:
        await server.register()
        grant = {"grant_type": "password", "username": "alice", "password": PASSWORD}
        wrong = base64.b64encode(b"api:not the secret").decode()
        response = await token(server, grant, headers={"Authorization": f"Basic {wrong}"})
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic")
        garbage = await token(server, grant, headers={"Authorization": "Basic !!!"})
        assert_oauth_error(garbage, 401, "invalid_client")
        body = await token(server, {**grant, "client_id": "api", "client_secret": "nope"})
        assert_oauth_error(body, 401, "invalid_client")
        right = base64.b64encode(b"api:an api secret of length").decode()
        ok = await token(server, grant, headers={"Authorization": f"Basic {right}"})
        assert ok.status_code == 200
        both = await token(
            server,
            {**grant, "client_secret": "x"},
            headers={"Authorization": f"Basic {right}"},
        )
        assert_oauth_error(both, 400, "invalid_request")
        public = await token(server, {**grant, "client_id": "any-public-app"})
        assert public.status_code == 200


async def test_password_grant_is_throttled_like_login(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, login_account_threshold=2, login_window=600)
    async with running(settings) as server:
        await server.register()
        grant = {"grant_type": "password", "username": "alice", "password": "wrong again"}
        for _ in range(2):
            assert_oauth_error(await token(server, grant), 400, "invalid_grant")
        # A failure over /auth/login and one over /auth/token are one account's failures.
        blocked = await server.client.post(
            "/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert blocked.status_code == 429
        blocked = await token(server, {**grant, "password": PASSWORD})
        assert_oauth_error(blocked, 429, "too_many_attempts")
        assert int(blocked.headers["retry-after"]) >= 1


async def test_tokens_come_in_the_body_even_in_cookie_transport(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, token_transport="cookie")) as server:
        await server.register()
        response = await token(
            server, {"grant_type": "password", "username": "alice", "password": PASSWORD}
        )
        assert response.json()["access_token"]
        assert "set-cookie" not in response.headers
