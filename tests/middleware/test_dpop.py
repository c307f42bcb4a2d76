"""DPoP-bound tokens (RFC 9449) through a real Starlette app: every rule, every answer."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jotgate import dpop, jwk
from jotgate.middleware import AuthMiddleware, Verifier

from .conftest import MakeToken, make_verifier

pytestmark = pytest.mark.anyio

BASE = "https://api.example.test"
CLIENT_KEY = jwk.Key.generate("ES256")
OTHER_CLIENT_KEY = jwk.Key.generate("ES256")


def bound(make_token: MakeToken, key: jwk.Key = CLIENT_KEY, **claims: Any) -> str:
    return make_token(cnf={"jkt": key.thumbprint()}, **claims)


def proof(token: str | None, method: str = "GET", url: str = BASE + "/notes", **kw: Any) -> str:
    key = kw.pop("key", CLIENT_KEY)
    return dpop.create_proof(key, method, url, access_token=token, **kw)


def app_for(verifier: Verifier, **options: Any) -> Starlette:
    async def notes(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["jotgate.claims"].sub})

    app = Starlette(routes=[Route("/notes", notes, methods=["GET", "POST"])])
    app.add_middleware(AuthMiddleware, verifier=verifier, **options)
    return app


@pytest.fixture
async def client(verifier: Verifier) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_for(verifier))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


def dpop_headers(token: str, *proofs: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"Authorization", f"DPoP {token}".encode()),
        *((b"DPoP", p.encode("latin-1")) for p in proofs),
    ]


def assert_proof_refused(response: httpx.Response, code: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == code
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP error="{code}"')
    assert 'algs="ES256 ' in challenge


async def test_bound_token_with_a_valid_proof_passes(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    token = bound(make_token, sub="u-dpop")
    response = await client.get("/notes?page=2", headers=dpop_headers(token, proof(token)))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "u-dpop"}
    again = proof(token, "POST")
    assert (await client.post("/notes", headers=dpop_headers(token, again))).status_code == 200


async def test_replayed_proof_is_refused(make_token: MakeToken, client: httpx.AsyncClient) -> None:
    token = bound(make_token)
    headers = dpop_headers(token, proof(token))
    assert (await client.get("/notes", headers=headers)).status_code == 200
    assert_proof_refused(await client.get("/notes", headers=headers))


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", BASE + "/notes"), ("GET", BASE + "/other"), ("GET", "https://evil.test/notes"),
     ("GET", "http://api.example.test/notes")],
)  # fmt: skip
async def test_proof_for_another_request_is_refused(
    make_token: MakeToken, client: httpx.AsyncClient, method: str, url: str
) -> None:
    token = bound(make_token)
    response = await client.get("/notes", headers=dpop_headers(token, proof(token, method, url)))
    assert_proof_refused(response)


async def test_proof_by_another_key_than_cnf_jkt_is_refused(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    token = bound(make_token)
    response = await client.get(
        "/notes", headers=dpop_headers(token, proof(token, key=OTHER_CLIENT_KEY))
    )
    assert_proof_refused(response)
    assert "(jkt)" in response.json()["message"]


async def test_proof_for_another_token_is_refused(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    token, other = bound(make_token), bound(make_token)
    assert_proof_refused(await client.get("/notes", headers=dpop_headers(token, proof(other))))


async def test_missing_two_and_garbage_proofs_are_refused(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    token = bound(make_token)
    assert_proof_refused(await client.get("/notes", headers=dpop_headers(token)))
    two = dpop_headers(token, proof(token), proof(token))
    assert_proof_refused(await client.get("/notes", headers=two))
    joined = dpop_headers(token, proof(token) + ", " + proof(token))
    assert_proof_refused(await client.get("/notes", headers=joined))
    for junk in ("", "x", "a.b.c", "é".encode().decode("latin-1") * 10, "A" * 9000):
        response = await client.get("/notes", headers=dpop_headers(token, junk))
        assert_proof_refused(response)


async def test_bound_token_sent_as_bearer_is_invalid_token(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    token = bound(make_token)
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Bearer {token}", "DPoP": proof(token)},
    ):
        response = await client.get("/notes", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


async def test_unbound_token_sent_with_the_dpop_scheme_is_invalid_token(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    token = make_token()
    response = await client.get("/notes", headers=dpop_headers(token, proof(token)))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    ok = await client.get("/notes", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


async def test_malformed_cnf_is_invalid_token(
    make_token: MakeToken, client: httpx.AsyncClient
) -> None:
    for cnf in ({"jkt": 7}, "jkt", {"x5t#S256": "abc"}):
        token = make_token(cnf=cnf)
        for auth in (f"DPoP {token}", f"Bearer {token}"):
            response = await client.get(
                "/notes", headers={"Authorization": auth, "DPoP": proof(token)}
            )
            assert response.status_code == 401
            assert response.json()["error"] == "invalid_token"


async def test_the_cache_never_skips_the_proof(make_token: MakeToken, verifier: Verifier) -> None:
    app = app_for(verifier)
    token = bound(make_token)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.get("/notes", headers=dpop_headers(token, proof(token)))).status_code == 200
        assert verifier.cache_len() == 1
        assert_proof_refused(await c.get("/notes", headers=dpop_headers(token)))
        assert (await c.get("/notes", headers=dpop_headers(token, proof(token)))).status_code == 200


async def test_nonce_flow(make_token: MakeToken) -> None:
    nonces = dpop.NonceSource(os.urandom(32))
    app = app_for(make_verifier(dpop_nonce=nonces))
    token = bound(make_token)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        first = await c.get("/notes", headers=dpop_headers(token, proof(token)))
        assert_proof_refused(first, "use_dpop_nonce")
        nonce = first.headers["dpop-nonce"]
        assert nonces.valid(nonce)
        stale = await c.get("/notes", headers=dpop_headers(token, proof(token, nonce="old")))
        assert_proof_refused(stale, "use_dpop_nonce")
        retry = await c.get("/notes", headers=dpop_headers(token, proof(token, nonce=nonce)))
        assert retry.status_code == 200, retry.text


async def test_forwarded_host_counts_only_when_trusted(make_token: MakeToken) -> None:
    token = bound(make_token)
    public = "https://public.example.test/notes"
    forwarded = [(b"X-Forwarded-Proto", b"https"), (b"X-Forwarded-Host", b"public.example.test")]
    for trusted, status in ((False, 401), (True, 200)):
        app = app_for(make_verifier(), trust_forwarded=trusted)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as c:
            headers = [*dpop_headers(token, proof(token, url=public)), *forwarded]
            assert (await c.get("/notes", headers=headers)).status_code == status


async def test_a_full_replay_cache_answers_503_not_500(make_token: MakeToken) -> None:
    app = app_for(make_verifier(dpop_replay=dpop.MemoryReplayCache(max_entries=1)))
    token = bound(make_token)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.get("/notes", headers=dpop_headers(token, proof(token)))).status_code == 200
        full = await c.get("/notes", headers=dpop_headers(token, proof(token)))
        assert full.status_code == 503
        assert full.json()["error"] == "temporarily_unavailable"
        assert full.headers["retry-after"] == "1"


def test_verify_without_a_request_refuses_bound_tokens(
    make_token: MakeToken, verifier: Verifier
) -> None:
    token = bound(make_token)
    with pytest.raises(Exception, match="DPoP-bound") as caught:
        verifier.verify(token)
    assert caught.value.__class__.__name__ == "TokenBindingError"


def test_websocket_handshake_proof_names_a_get_over_http(
    make_token: MakeToken, verifier: Verifier
) -> None:
    from starlette.testclient import TestClient, WebSocketDenialResponse

    from .test_asgi import make_app

    token = bound(make_token, sub="ws-dpop")
    with TestClient(make_app(verifier)) as http:
        headers = {
            "Authorization": f"DPoP {token}",
            "DPoP": proof(token, url="http://testserver/ws"),
        }
        with http.websocket_connect("/ws", headers=headers) as ws:
            assert ws.receive_json() == {"sub": "ws-dpop"}
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            http.websocket_connect("/ws", headers=headers),  # the same proof again
        ):
            pass
        assert refused.value.status_code == 401
        assert refused.value.json()["error"] == "invalid_dpop_proof"
