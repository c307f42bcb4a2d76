"""/auth/verify's fast path: a plain Starlette route and a cache of verified tokens.

The cache skips decryption and the signature only: expiry, the denylist and
every binding are checked on every request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from jotgate import jwt
from jotgate.server import tokens as tokens_module

from .conftest import Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio


def _count_decodes(server: Server, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    service = server.runtime.tokens
    calls: list[str] = []
    original = service.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(token)
        return original(token, *args, **kwargs)

    monkeypatch.setattr(service, "decode", counting)
    return calls


async def test_a_token_is_verified_once_then_served_from_the_cache(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await server.signup()
    calls = _count_decodes(server, monkeypatch)
    for _ in range(3):
        response = await server.client.get("/auth/verify", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200
    assert len(calls) == 1
    # A reload of the keys (another snapshot) means verifying again.
    await server.runtime.keys.reload()
    assert (
        await server.client.get("/auth/verify", headers=bearer(tokens["access_token"]))
    ).status_code == 200
    assert len(calls) == 2


async def test_a_cached_token_of_a_revoked_session_is_refused(server: Server) -> None:
    tokens = await server.signup()
    auth = bearer(tokens["access_token"])
    assert (await server.client.get("/auth/verify", headers=auth)).status_code == 200
    assert (await server.client.post("/auth/logout", headers=auth)).status_code in (200, 204)
    refused = await server.client.get("/auth/verify", headers=auth)
    assert refused.status_code == 401
    assert refused.headers["X-Auth-Error"] == "token_revoked"


async def test_a_cached_token_expires_on_time(server: Server) -> None:
    tokens = await server.signup()
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    now = dt.datetime.now(dt.UTC)
    short, _ = await server.runtime.tokens.issue_access(
        user_id=claims["sub"],
        session_id=claims["sid"],
        roles=[],
        now=now,
        not_after=now + dt.timedelta(seconds=1.5),
    )
    assert (await server.client.get("/auth/verify", headers=bearer(short))).status_code == 200
    await asyncio.sleep(2.1)
    expired = await server.client.get("/auth/verify", headers=bearer(short))
    assert expired.status_code == 401
    assert expired.headers["X-Auth-Error"] == "token_expired"


async def test_bindings_are_checked_on_every_cached_hit(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, bind_tokens="user-agent")) as server:
        tokens = await server.signup()
        auth = bearer(tokens["access_token"])
        assert (await server.client.get("/auth/verify", headers=auth)).status_code == 200
        other = await server.client.get("/auth/verify", headers={**auth, "User-Agent": "curl/8"})
        assert other.status_code == 401
        assert other.headers["X-Auth-Error"] == "invalid_token"
        assert (await server.client.get("/auth/verify", headers=auth)).status_code == 200


async def test_the_cache_is_bounded(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "VERIFIED_CACHE_LIMIT", 2)
    await server.register()
    for _ in range(4):
        body = await server.login()
        response = await server.client.get("/auth/verify", headers=bearer(body["access_token"]))
        assert response.status_code == 200
    assert len(server.runtime.tokens._verified) == 2


async def test_invalid_tokens_are_not_cached(server: Server) -> None:
    await server.signup()
    for _ in range(2):
        response = await server.client.get("/auth/verify", headers=bearer("not.a.token"))
        assert response.status_code == 401
    assert server.runtime.tokens._verified == {}


async def test_verify_is_a_plain_route_first_and_still_in_openapi(server: Server) -> None:
    first = [r for r in server.app.router.routes if getattr(r, "path", "") == "/auth/verify"]
    assert isinstance(first[0], Route)
    assert not isinstance(first[0], APIRoute)
    document = (await server.client.get("/openapi.json")).json()
    operation = document["paths"]["/auth/verify"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["role"]
    assert operation.get("security")
    assert set(document["paths"]["/auth/verify"]) == {"get"}


async def test_plain_route_keeps_the_methods_paths_and_role_check(server: Server) -> None:
    tokens = await server.signup()
    auth = bearer(tokens["access_token"])
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = await server.client.request(method, "/auth/verify/some/path", headers=auth)
        assert response.status_code == 200, method
    too_long = await server.client.get("/auth/verify", params={"role": "x" * 65}, headers=auth)
    assert too_long.status_code == 422
    assert too_long.json()["error"] == "invalid_request"
    missing = await server.client.get("/auth/verify")
    assert missing.status_code == 401


async def test_identity_headers_follow_the_claims_not_just_the_jti(server: Server) -> None:
    from jotgate.server.routes import edge
    from jotgate.server.tokens import AccessClaims

    tokens = await server.signup()
    auth = bearer(tokens["access_token"])
    first = await server.client.get("/auth/verify", headers=auth)
    again = await server.client.get("/auth/verify", headers=auth)
    assert first.headers["X-Auth-Claims"] == again.headers["X-Auth-Claims"]
    cached = next(iter(edge._identities.values()))
    # Other claims under the same jti never get the cached headers.
    impostor = AccessClaims(
        sub="someone-else",
        sid="other",
        jti=cached[0]["jti"],
        exp=cached[0]["exp"],
        roles=(),
        raw={**cached[0], "sub": "someone-else", "sid": "other"},
    )
    headers = edge._identity(impostor)
    assert headers["X-User-Id"] == "someone-else"
    assert headers["X-Session-Id"] == "other"


async def test_the_database_denylist_answers_through_core(server: Server) -> None:
    import datetime as dt

    store = server.runtime.denylist.store
    assert not await store.contains("sid-1")
    await store.add(["sid-1"], dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    assert await store.contains("sid-1")
    await store.add(["sid-2"], dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert not await store.contains("sid-2")
