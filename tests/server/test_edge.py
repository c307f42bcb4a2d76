"""GET /auth/verify: forward-auth for edge proxies."""

from __future__ import annotations

import pytest

from .conftest import Server, bearer

pytestmark = pytest.mark.anyio


async def test_verify_answers_identity_headers(server: Server) -> None:
    registered = await server.register()
    await server.runtime.users.set_roles(registered["id"], ["admin", "ops"])
    tokens = await server.login()
    response = await server.client.get("/auth/verify", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.headers["x-user-id"] == registered["id"]
    assert response.headers["x-user-roles"] == "admin,ops"
    ok = await server.client.get(
        "/auth/verify", params={"role": "ops"}, headers=bearer(tokens["access_token"])
    )
    assert ok.status_code == 200
    denied = await server.client.get(
        "/auth/verify", params={"role": "root"}, headers=bearer(tokens["access_token"])
    )
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"


async def test_verify_refuses_missing_and_revoked_tokens(server: Server) -> None:
    assert (await server.client.get("/auth/verify")).json()["error"] == "missing_token"
    tokens = await server.signup()
    await server.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    response = await server.client.get("/auth/verify", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "token_revoked"


def test_scopes_header_is_space_separated_as_in_the_scope_claim() -> None:
    from jotgate.server.routes.edge import _identity_of
    from jotgate.server.tokens import AccessClaims

    raw = {"sub": "u", "sid": "s", "jti": "j", "exp": 1, "scope": "notes:read a,b"}
    claims = AccessClaims(sub="u", sid="s", jti="j", exp=1, roles=(), raw=raw)
    assert _identity_of(claims)["X-User-Scopes"] == "notes:read a,b"
