"""Every bad input gets a 4xx JSON ``{"error", "message"}``, never a 500."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from jotgate import jwk, jwt

from .conftest import PASSWORD, Server, bearer

pytestmark = pytest.mark.anyio


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    assert body["message"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed_json"),
        (b"", {"content-type": "application/json"}, 422, "invalid_request"),
        (b"[]", {"content-type": "application/json"}, 422, "invalid_request"),
        (b'{"username": "a"}', {"content-type": "application/json"}, 422, "invalid_request"),
        (
            b'{"username": "a", "password": "bbbbbbbbbb", "admin": true}',
            {"content-type": "application/json"},
            422,
            "invalid_request",
        ),
        (
            b'{"username": 1, "password": "bbbbbbbbbb"}',
            {"content-type": "application/json"},
            422,
            "invalid_request",
        ),
        (b"username=a&password=b", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (
            b"username=a&password=b",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (b"\xff\xfe\x00", {"content-type": "application/json"}, 400, "malformed_json"),
    ],
)
@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
async def test_malformed_bodies_get_a_4xx_json_error(
    server: Server, path: str, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = await server.client.post(path, content=content, headers=headers)
    assert_error(response, status, code)


async def test_an_oversized_body_is_refused_with_413(server: Server) -> None:
    big = b'{"username": "' + b"a" * 70_000 + b'", "password": "x"}'
    response = await server.client.post(
        "/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


async def test_an_oversized_chunked_body_is_refused_with_413(server: Server) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"a" * 1024

    response = await server.client.post(
        "/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


async def test_unknown_route_and_wrong_method_are_json(server: Server) -> None:
    assert_error(await server.client.get("/nope"), 404, "not_found")
    assert_error(await server.client.get("/auth/login"), 405, "method_not_allowed")


async def test_missing_token(server: Server) -> None:
    response = await server.client.get("/auth/me")
    assert_error(response, 401, "missing_token")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic YWxpY2U6cGFzcw==",
        "Bearer",
        "Bearer not.a.jwt",
        "Bearer " + "a" * 10_000,
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    ],
)
async def test_bad_authorization_headers_are_invalid_token(
    server: Server, authorization: str
) -> None:
    response = await server.client.get("/auth/me", headers={"Authorization": authorization})
    assert_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_token_signed_by_another_key_is_invalid(server: Server) -> None:
    tokens = await server.signup()
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    forged = jwt.encode(claims, jwk.Key.generate("ES256"), typ="at+jwt")
    response = await server.client.get("/auth/me", headers=bearer(forged))
    assert_error(response, 401, "invalid_token")


async def test_a_token_for_another_audience_is_invalid(server: Server) -> None:
    tokens = await server.signup()
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    loaded = await server.runtime.keys.current()
    other = jwt.encode(
        {**claims, "aud": "other-api"},
        loaded.signing,
        headers={"kid": loaded.signing.kid},
        typ="at+jwt",
    )
    assert_error(await server.client.get("/auth/me", headers=bearer(other)), 401, "invalid_token")


async def test_a_plain_jwt_typ_is_not_an_access_token(server: Server) -> None:
    tokens = await server.signup()
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    loaded = await server.runtime.keys.current()
    other = jwt.encode(claims, loaded.signing, headers={"kid": loaded.signing.kid}, typ="JWT")
    assert_error(await server.client.get("/auth/me", headers=bearer(other)), 401, "invalid_token")


async def test_expired_status_can_be_419(tmp_path: Any) -> None:
    from .conftest import running, test_settings

    async with running(test_settings(tmp_path, expired_status=419)) as server:
        tokens = await server.signup()
        claims = jwt.decode_unverified(tokens["access_token"])[1]
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        expired, _ = await server.runtime.tokens.issue_access(
            user_id=claims["sub"],
            session_id=claims["sid"],
            roles=[],
            now=past,
            not_after=past + dt.timedelta(hours=2),
        )
        response = await server.client.get("/auth/me", headers=bearer(expired))
        assert_error(response, 419, "token_expired")


async def test_refresh_without_a_token_is_a_400(server: Server) -> None:
    assert_error(await server.client.post("/auth/refresh"), 400, "invalid_request")
    assert_error(await server.client.post("/auth/refresh", json={}), 400, "invalid_request")
    response = await server.client.post("/auth/refresh", json={"refresh_token": 5})
    assert_error(response, 422, "invalid_request")


async def test_logout_without_credentials_is_missing_token(server: Server) -> None:
    assert_error(await server.client.post("/auth/logout"), 401, "missing_token")


async def test_logout_with_an_expired_access_token_still_works(server: Server) -> None:
    tokens = await server.signup()
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    expired, _ = await server.runtime.tokens.issue_access(
        user_id=claims["sub"],
        session_id=claims["sid"],
        roles=[],
        now=past,
        not_after=past + dt.timedelta(hours=2),
    )
    response = await server.client.post("/auth/logout", headers=bearer(expired))
    assert response.status_code == 204
    refreshed = await server.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_error(refreshed, 401, "token_revoked")


async def test_unknown_user_and_wrong_password_answer_the_same(server: Server) -> None:
    await server.register()
    wrong = await server.client.post(
        "/auth/login", json={"username": "alice", "password": "wrong password!"}
    )
    unknown = await server.client.post(
        "/auth/login", json={"username": "mallory", "password": PASSWORD}
    )
    malformed = await server.client.post(
        "/auth/login", json={"username": "bad name!", "password": PASSWORD}
    )
    for response in (wrong, unknown, malformed):
        assert_error(response, 401, "invalid_credentials")
    assert wrong.json() == unknown.json() == malformed.json()
    assert dict(wrong.headers) == dict(unknown.headers)


async def test_a_disabled_account_cannot_log_in_and_its_sessions_end(server: Server) -> None:
    registered = await server.register()
    tokens = await server.login()
    await server.runtime.users.set_disabled(registered["id"], True)
    me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert_error(me, 401, "token_revoked")
    login = await server.client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert_error(login, 401, "invalid_credentials")
    await server.runtime.users.set_disabled(registered["id"], False)
    await server.login()
