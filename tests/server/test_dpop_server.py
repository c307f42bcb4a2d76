"""DPoP in the auth server (RFC 9449): bound tokens, proofs, replay across processes, nonces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from jotgate import dpop, jwk, jwt

from .conftest import PASSWORD, Server, running, test_settings

pytestmark = pytest.mark.anyio

BASE = "http://testserver"
PEER = "203.0.113.7"  # the test client's address (conftest)
CREDENTIALS = {"username": "alice", "password": PASSWORD}


class Client:
    """A DPoP client: one key, a fresh proof for every request."""

    def __init__(self, server: Server, alg: str = "ES256") -> None:
        self.server = server
        self.key = jwk.Key.generate(alg)
        self.nonce: str | None = None

    def proof(self, method: str, path: str, token: str | None = None, **kw: Any) -> str:
        return dpop.create_proof(
            self.key, method, BASE + path, access_token=token, nonce=self.nonce, **kw
        )

    async def login(self) -> dict[str, Any]:
        response = await self.server.client.post(
            "/auth/login", json=CREDENTIALS, headers={"DPoP": self.proof("POST", "/auth/login")}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, path: str, token: str, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"DPoP {token}", "DPoP": self.proof("GET", path, token)}
        return await self.server.client.get(path, headers={**auth, **headers})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(test_settings(tmp_path, trusted_proxies=f"{PEER}/32")) as srv:
        await srv.register()
        yield srv


def refused(response: httpx.Response, code: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == code
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ")
    assert f'error="{code}"' in challenge


async def test_a_login_with_a_proof_gets_bound_dpop_tokens(server: Server) -> None:
    client = Client(server)
    tokens = await client.login()
    assert tokens["token_type"] == "DPoP"
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    assert claims["cnf"] == {"jkt": client.key.thumbprint()}
    me = await client.get("/auth/me", tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert (await client.get("/auth/verify", tokens["access_token"])).status_code == 200


async def test_a_login_without_a_proof_stays_bearer(server: Server) -> None:
    tokens = await server.login()
    assert tokens["token_type"] == "Bearer"
    assert "cnf" not in jwt.decode_unverified(tokens["access_token"])[1]
    as_dpop = await Client(server).get("/auth/me", tokens["access_token"])
    assert as_dpop.status_code == 401
    assert as_dpop.json()["error"] == "invalid_token"


async def test_a_bound_token_sent_as_bearer_is_refused(server: Server) -> None:
    tokens = await Client(server).login()
    for path in ("/auth/me", "/auth/verify"):
        answer = await server.client.get(
            path, headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        refused(answer, "invalid_token")
        assert "algs=" in answer.headers["www-authenticate"]


async def test_bad_proofs_are_refused_with_the_dpop_challenge(server: Server) -> None:
    client = Client(server)
    token = (await client.login())["access_token"]
    auth = {"Authorization": f"DPoP {token}"}
    other = Client(server)
    cases = {
        "missing": {},
        "other key": {"DPoP": other.proof("GET", "/auth/me", token)},
        "other method": {"DPoP": client.proof("POST", "/auth/me", token)},
        "other url": {"DPoP": client.proof("GET", "/auth/sessions", token)},
        "no ath": {"DPoP": client.proof("GET", "/auth/me")},
        "too old": {"DPoP": client.proof("GET", "/auth/me", token, now=1_000_000_000)},
        "garbage": {"DPoP": "not.a.proof"},
        "two proofs": {"DPoP": client.proof("GET", "/auth/me", token) + ", x"},
    }
    for name, headers in cases.items():
        answer = await server.client.get("/auth/me", headers={**auth, **headers})
        assert answer.status_code == 401, name
        refused(answer)


async def test_a_proof_is_good_once(server: Server) -> None:
    client = Client(server)
    token = (await client.login())["access_token"]
    headers = {"Authorization": f"DPoP {token}", "DPoP": client.proof("GET", "/auth/me", token)}
    assert (await server.client.get("/auth/me", headers=headers)).status_code == 200
    refused(await server.client.get("/auth/me", headers=headers))


async def test_refresh_of_a_bound_session_needs_a_proof_by_the_same_key(server: Server) -> None:
    client = Client(server)
    tokens = await client.login()
    body = {"refresh_token": tokens["refresh_token"]}
    bare = await server.client.post("/auth/refresh", json=body)
    assert (bare.status_code, bare.json()["error"]) == (400, "invalid_dpop_proof")
    thief = Client(server)
    stolen = await server.client.post(
        "/auth/refresh", json=body, headers={"DPoP": thief.proof("POST", "/auth/refresh")}
    )
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_dpop_proof")
    ok = await server.client.post(
        "/auth/refresh", json=body, headers={"DPoP": client.proof("POST", "/auth/refresh")}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"
    fresh = ok.json()["access_token"]
    assert jwt.decode_unverified(fresh)[1]["cnf"]["jkt"] == client.key.thumbprint()
    assert (await client.get("/auth/me", fresh)).status_code == 200


async def test_the_oauth_token_endpoint_binds_too(server: Server) -> None:
    client = Client(server)
    form = {"grant_type": "password", **CREDENTIALS}
    bad = await server.client.post("/auth/token", data=form, headers={"DPoP": "x.y.z"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_dpop_proof"
    assert set(bad.json()) == {"error", "error_description", "message"}
    good = await server.client.post(
        "/auth/token", data=form, headers={"DPoP": client.proof("POST", "/auth/token")}
    )
    assert good.json()["token_type"] == "DPoP"
    refresh = {"grant_type": "refresh_token", "refresh_token": good.json()["refresh_token"]}
    again = await server.client.post("/auth/token", data=refresh)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_dpop_proof")


async def test_the_nonce_flow(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, dpop_nonce=True)) as server:
        await server.register()
        client = Client(server)
        first = await server.client.post(
            "/auth/login", json=CREDENTIALS, headers={"DPoP": client.proof("POST", "/auth/login")}
        )
        assert (first.status_code, first.json()["error"]) == (400, "use_dpop_nonce")
        client.nonce = first.headers["dpop-nonce"]
        tokens = await client.login()
        me = await client.get("/auth/me", tokens["access_token"])
        assert me.status_code == 200
        client.nonce = "stale"
        answer = await client.get("/auth/me", tokens["access_token"])
        refused(answer, "use_dpop_nonce")
        assert answer.headers["dpop-nonce"]


async def test_verify_behind_a_trusted_proxy_checks_the_guarded_request(server: Server) -> None:
    client = Client(server)
    token = (await client.login())["access_token"]
    url = "https://api.example.com/notes/7?full=1"
    proxy = {
        "X-Original-Method": "DELETE",
        "X-Original-URI": "/notes/7?full=1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "api.example.com",
    }
    proof = dpop.create_proof(client.key, "DELETE", url, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof, **proxy}
    assert (await server.client.get("/auth/verify", headers=headers)).status_code == 200
    # The same headers from a peer that is not a trusted proxy count for nothing.
    async with running(server.settings.replace(trusted_proxies="")) as other:
        proof = dpop.create_proof(client.key, "DELETE", url, access_token=token)
        answer = await other.client.get("/auth/verify", headers={**headers, "DPoP": proof})
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_dpop_proof"


async def test_introspection_reports_the_binding(tmp_path: Path) -> None:
    secret = "a service client secret of length"
    async with running(test_settings(tmp_path, introspection_clients=f"api:{secret}")) as srv:
        await srv.register()
        client = Client(srv)
        tokens = await client.login()
        answer = await srv.client.post(
            "/auth/introspect", data={"token": tokens["access_token"]}, auth=("api", secret)
        )
        assert answer.json()["token_type"] == "DPoP"
        assert answer.json()["cnf"] == {"jkt": client.key.thumbprint()}


async def _replay_refused_by_the_other(servers: list[Server]) -> None:
    await servers[0].register()
    client = Client(servers[0])
    token = (await client.login())["access_token"]
    headers = {"Authorization": f"DPoP {token}", "DPoP": client.proof("GET", "/auth/me", token)}
    assert (await servers[0].client.get("/auth/me", headers=headers)).status_code == 200
    refused(await servers[1].client.get("/auth/me", headers=headers))
    # Racing the same fresh proof at both: exactly one wins.
    headers["DPoP"] = client.proof("GET", "/auth/me", token)
    answers = await asyncio.gather(
        *(servers[i % 2].client.get("/auth/me", headers=headers) for i in range(10))
    )
    assert sorted(a.status_code for a in answers) == [200] + [401] * 9


async def test_a_proof_replayed_at_another_server_on_postgres_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    settings = test_settings(tmp_path, database_url=pg_url)
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(running(settings)) for _ in range(2)]
        await _replay_refused_by_the_other(servers)


async def test_a_proof_replayed_at_another_server_via_redis_is_refused(
    tmp_path: Path, redis_url: str
) -> None:
    settings = test_settings(tmp_path, redis_url=redis_url)
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(running(settings)) for _ in range(2)]
        await _replay_refused_by_the_other(servers)


@pytest.mark.parametrize(
    "proof",
    [
        "",
        " ",
        "a.b.c",
        "e30.e30.",
        "x" * 9000,
        "ey" + "A" * 40 + ".e30.AAAA",
        "\u00e9.\u00e9.\u00e9",
    ],
)
async def test_garbage_proofs_are_4xx_never_500(server: Server, proof: str) -> None:
    client = Client(server)
    tokens = await client.login()
    headers = {b"DPoP": proof.encode("utf-8")}
    login = await server.client.post("/auth/login", json=CREDENTIALS, headers=headers)
    refresh = await server.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )
    me = await server.client.get(
        "/auth/me", headers={**headers, b"Authorization": f"DPoP {tokens['access_token']}".encode()}
    )
    for answer in (login, refresh, me):
        assert 400 <= answer.status_code < 500, answer.text
        assert set(answer.json()) == {"error", "message"}


async def test_logout_takes_a_bound_token_in_the_dpop_scheme(server: Server) -> None:
    client = Client(server)
    token = (await client.login())["access_token"]
    out = await server.client.post("/auth/logout", headers={"Authorization": f"DPoP {token}"})
    assert out.status_code == 204
    assert (await client.get("/auth/me", token)).json()["error"] == "token_revoked"
