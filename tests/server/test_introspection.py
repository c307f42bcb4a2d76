"""RFC 7662 introspection, RFC 7009 revocation and RFC 8414 metadata, over HTTP."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

CLIENT_SECRET = "resource server secret"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"api:{CLIENT_SECRET}".encode()).decode()}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    settings = test_settings(tmp_path, introspection_clients=f"api:{CLIENT_SECRET}")
    async with running(settings) as srv:
        yield srv


async def introspect(
    server: Server, token: str, headers: dict[str, str] | None = None, **extra: str
) -> httpx.Response:
    return await server.client.post(
        "/auth/introspect",
        data={"token": token, **extra},
        headers=BASIC if headers is None else headers,
    )


async def test_an_active_access_token_is_described(server: Server) -> None:
    registered = await server.register()
    tokens = await server.login()
    response = await introspect(server, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["sub"] == registered["id"]
    assert body["username"] == "alice"
    assert body["client_id"] == "jotgate"
    assert body["exp"] - body["iat"] == 900


async def test_an_active_refresh_token_is_described(server: Server) -> None:
    tokens = await server.signup()
    body = (
        await introspect(server, tokens["refresh_token"], token_type_hint="refresh_token")
    ).json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    # A wrong hint only changes the search order (RFC 7009 §2.1).
    hinted = await introspect(server, tokens["refresh_token"], token_type_hint="access_token")
    assert hinted.json()["active"] is True


async def test_garbage_logged_out_and_used_tokens_are_inactive(server: Server) -> None:
    tokens = await server.signup()
    assert (await introspect(server, "garbage")).json() == {"active": False}
    await server.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert (await introspect(server, tokens["refresh_token"])).json() == {"active": False}
    await server.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert (await introspect(server, tokens["access_token"])).json() == {"active": False}


async def test_a_disabled_account_has_no_active_tokens(server: Server) -> None:
    registered = await server.register()
    tokens = await server.login()
    async with server.runtime.db() as db:
        from jotgate.server.models import User

        user = await db.get(User, registered["id"])
        assert user is not None
        user.disabled = True  # disabled behind the server's back: no denylist entry
        await db.commit()
    assert (await introspect(server, tokens["access_token"])).json() == {"active": False}


async def test_introspection_needs_an_authenticated_caller(server: Server) -> None:
    tokens = await server.signup()
    anonymous = await introspect(server, tokens["access_token"], headers={})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    assert "Basic" in anonymous.headers["www-authenticate"]
    wrong = {"Authorization": "Basic " + base64.b64encode(b"api:wrong").decode()}
    assert (await introspect(server, tokens["access_token"], headers=wrong)).status_code == 401
    # A user's own token without the introspect role is not enough.
    own = await introspect(server, tokens["access_token"], headers=bearer(tokens["access_token"]))
    assert own.status_code == 403
    assert own.json()["error"] == "insufficient_scope"


async def test_a_bearer_with_the_introspect_role_may_introspect(server: Server) -> None:
    await server.runtime.users.register("gateway", PASSWORD, roles=["introspect"])
    caller = await server.login("gateway")
    tokens = await server.signup("bob")
    response = await introspect(
        server, tokens["access_token"], headers=bearer(caller["access_token"])
    )
    assert response.json()["username"] == "bob"


async def test_client_secret_in_the_body_also_authenticates(server: Server) -> None:
    tokens = await server.signup()
    response = await introspect(
        server, tokens["access_token"], headers={}, client_id="api", client_secret=CLIENT_SECRET
    )
    assert response.json()["active"] is True


async def test_introspection_without_a_token_is_invalid_request(server: Server) -> None:
    response = await server.client.post("/auth/introspect", data={}, headers=BASIC)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_revoking_a_refresh_token_ends_its_session(server: Server) -> None:
    tokens = await server.signup()
    response = await server.client.post(
        "/auth/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    )
    assert response.status_code == 200
    me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json()["error"] == "token_revoked"
    again = await server.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401


async def test_revoking_an_access_token_ends_its_session(server: Server) -> None:
    tokens = await server.signup()
    other = await server.login()
    response = await server.client.post("/auth/revoke", data={"token": tokens["access_token"]})
    assert response.status_code == 200
    me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json()["error"] == "token_revoked"
    still = await server.client.get("/auth/me", headers=bearer(other["access_token"]))
    assert still.status_code == 200


async def test_revoking_unknown_or_revoked_tokens_is_still_200(server: Server) -> None:
    tokens = await server.signup()
    for token in ("garbage", tokens["refresh_token"], tokens["refresh_token"]):
        response = await server.client.post("/auth/revoke", data={"token": token})
        assert response.status_code == 200


async def test_revocation_refuses_wrong_client_credentials(server: Server) -> None:
    wrong = {"Authorization": "Basic " + base64.b64encode(b"api:wrong").decode()}
    response = await server.client.post("/auth/revoke", data={"token": "x"}, headers=wrong)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    missing = await server.client.post("/auth/revoke", data={})
    assert missing.json()["error"] == "invalid_request"


async def test_authorization_server_metadata(server: Server) -> None:
    response = await server.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == "http://testserver"
    assert meta["token_endpoint"] == "http://testserver/auth/token"
    assert meta["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == "http://testserver/auth/revoke"
    assert meta["introspection_endpoint"] == "http://testserver/auth/introspect"
    assert meta["grant_types_supported"] == ["password", "refresh_token"]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    # Every advertised endpoint answers on this server.
    for url in (meta["jwks_uri"],):
        assert (await server.client.get(url)).status_code == 200
