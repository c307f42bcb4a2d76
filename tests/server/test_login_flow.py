"""Register, log in, call /auth/me, refresh, log out: the main path over HTTP."""

from __future__ import annotations

import pytest

from jotgate import jwt

from .conftest import PASSWORD, Server, bearer

pytestmark = pytest.mark.anyio


async def test_register_returns_the_opaque_id_and_normalised_name(server: Server) -> None:
    body = await server.register("\uff21\uff2c\uff29\uff23\uff25")  # full-width
    assert body["username"] == "alice"
    assert len(body["id"]) == 36


async def test_login_returns_the_token_response(server: Server) -> None:
    tokens = await server.signup()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 14 * 86400
    assert len(tokens["refresh_token"]) >= 43  # 32 random bytes, base64url


async def test_access_token_has_the_designed_header_and_claims(server: Server) -> None:
    registered = await server.register()
    tokens = await server.login()
    header, claims = jwt.decode_unverified(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    assert claims["sub"] == registered["id"]
    assert claims["iss"] == "http://testserver"
    assert claims["aud"] == "jotgate-test"
    assert claims["exp"] - claims["iat"] == 900
    assert {"jti", "sid", "roles"} <= claims.keys()
    assert "alice" not in str(claims)  # the payload is readable: no username in it


async def test_access_token_verifies_with_the_published_jwks(server: Server) -> None:
    tokens = await server.signup()
    response = await server.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response.headers["cache-control"]
    from jotgate import jwk

    keys = jwk.KeySet.from_jwks(response.json())
    assert all("d" not in k for k in response.json()["keys"])
    claims = jwt.decode(
        tokens["access_token"],
        keys,
        algorithms=["ES256"],
        issuer="http://testserver",
        audience="jotgate-test",
        typ="at+jwt",
    )
    assert claims["roles"] == []


async def test_me_reads_the_user_from_the_database(server: Server) -> None:
    registered = await server.register()
    tokens = await server.login()
    response = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == registered["id"]
    assert body["username"] == "alice"


async def test_login_accepts_any_spelling_of_the_username(server: Server) -> None:
    await server.register("Bob")
    await server.login("BOB")
    await server.login("\uff42\uff4f\uff42")  # full-width


async def test_refresh_returns_a_new_pair_and_the_new_access_token_works(server: Server) -> None:
    tokens = await server.signup()
    response = await server.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert fresh["access_token"] != tokens["access_token"]
    me = await server.client.get("/auth/me", headers=bearer(fresh["access_token"]))
    assert me.status_code == 200


async def test_logout_stops_both_tokens_at_once(server: Server) -> None:
    tokens = await server.signup()
    response = await server.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 401
    assert me.json()["error"] == "token_revoked"
    assert me.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    again = await server.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401
    assert again.json()["error"] == "token_revoked"


async def test_logout_by_refresh_token_alone(server: Server) -> None:
    tokens = await server.signup()
    response = await server.client.post(
        "/auth/logout", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 204
    me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json()["error"] == "token_revoked"


async def test_logout_all_ends_every_session_of_the_user(server: Server) -> None:
    first = await server.signup()
    second = await server.login()
    other_user = await server.signup("carol")
    response = await server.client.post("/auth/logout-all", headers=bearer(first["access_token"]))
    assert response.status_code == 204
    for tokens in (first, second):
        me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.json()["error"] == "token_revoked"
    me = await server.client.get("/auth/me", headers=bearer(other_user["access_token"]))
    assert me.status_code == 200


async def test_password_change_ends_every_session_and_returns_a_new_one(server: Server) -> None:
    first = await server.signup()
    second = await server.login()
    response = await server.client.post(
        "/auth/password",
        headers=bearer(first["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 200, response.text
    for tokens in (first, second):
        me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.json()["error"] == "token_revoked"
    me = await server.client.get("/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200
    old = await server.client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    await server.login(password="a brand new passphrase")


async def test_password_change_with_a_wrong_current_password_is_refused(server: Server) -> None:
    tokens = await server.signup()
    response = await server.client.post(
        "/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": "not the password", "new_password": "another passphrase"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"


async def test_sessions_are_listed_and_can_be_ended_by_their_user(server: Server) -> None:
    first = await server.signup()
    second = await server.login()
    listed = await server.client.get("/auth/sessions", headers=bearer(first["access_token"]))
    assert listed.status_code == 200
    sessions = listed.json()
    assert len(sessions) == 2
    assert all(s["user_agent"] == "pytest-client/1.0" for s in sessions)
    assert all(s["ip"] == "203.0.113.7" for s in sessions)
    assert sum(s["current"] for s in sessions) == 1
    other = next(s for s in sessions if not s["current"])
    ended = await server.client.delete(
        f"/auth/sessions/{other['id']}", headers=bearer(first["access_token"])
    )
    assert ended.status_code == 204
    me = await server.client.get("/auth/me", headers=bearer(second["access_token"]))
    assert me.json()["error"] == "token_revoked"
    still = await server.client.get("/auth/me", headers=bearer(first["access_token"]))
    assert still.status_code == 200


async def test_a_user_cannot_end_someone_elses_session(server: Server) -> None:
    alice = await server.signup()
    bob = await server.signup("bob")
    bob_sid = jwt.decode_unverified(bob["access_token"])[1]["sid"]
    response = await server.client.delete(
        f"/auth/sessions/{bob_sid}", headers=bearer(alice["access_token"])
    )
    assert response.status_code == 404
    assert response.json()["error"] == "session_not_found"
    me = await server.client.get("/auth/me", headers=bearer(bob["access_token"]))
    assert me.status_code == 200


async def test_healthz_reports_the_database(server: Server) -> None:
    response = await server.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
