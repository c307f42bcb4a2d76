"""DPoP through the other faces (WSGI, Flask, FastAPI) and with replay caches in real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI
from flask import Flask

from jotgate import dpop, jwe, jwk, jwt
from jotgate.middleware import Claims, DPoPRequest, Verifier, WSGIAuthMiddleware
from jotgate.middleware.fastapi import install, require_token
from jotgate.middleware.flask import current_claims
from jotgate.middleware.flask import require_token as flask_require_token

from .conftest import _KEY, REDIS_URL, MakeToken, make_verifier, need_redis
from .test_dpop import bound, proof

redis = pytest.importorskip("redis")
redis_asyncio = pytest.importorskip("redis.asyncio")


def flask_app(verifier: Verifier) -> Flask:
    app = Flask(__name__)

    @app.route("/me", methods=["GET", "POST"])
    @flask_require_token(verifier)
    def me() -> dict[str, Any]:
        return {"sub": current_claims().sub}

    return app


def error(response: Any) -> str:
    """The JSON ``error`` of a Flask test response."""
    body: dict[str, str] = response.json
    return body["error"]


def headers(token: str, *proofs: str) -> dict[str, str]:
    out = {"Authorization": f"DPoP {token}"}
    if proofs:
        out["DPoP"] = ", ".join(proofs)  # what a WSGI server makes of repeated headers
    return out


def test_flask_decorator_checks_proofs(make_token: MakeToken) -> None:
    http = flask_app(make_verifier()).test_client()
    token = bound(make_token, sub="f-dpop")
    good = proof(token, "GET", "http://localhost/me")
    assert http.get("/me", headers=headers(token, good)).json == {"sub": "f-dpop"}
    replay = http.get("/me", headers=headers(token, good))
    assert replay.status_code == 401
    assert error(replay) == "invalid_dpop_proof"
    assert replay.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    two = http.get("/me", headers=headers(token, *[proof(token, url="http://localhost/me")] * 2))
    assert error(two) == "invalid_dpop_proof"
    post = http.post("/me", headers=headers(token, proof(token, "GET", "http://localhost/me")))
    assert error(post) == "invalid_dpop_proof"
    bearer = http.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert (bearer.status_code, error(bearer)) == (401, "invalid_token")


def test_wsgi_middleware_uses_forwarded_origin_only_when_trusted(make_token: MakeToken) -> None:
    token = bound(make_token)
    public = "https://public.example.test/me"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.test"}
    for trusted, status in ((False, 401), (True, 200)):
        app = flask_app(make_verifier())
        inner: Any = app.wsgi_app
        app.wsgi_app = WSGIAuthMiddleware(  # type: ignore[method-assign]
            inner, make_verifier(), trust_forwarded=trusted
        )
        response = app.test_client().get(
            "/me", headers={**headers(token, proof(token, url=public)), **forwarded}
        )
        assert response.status_code == status, response.json


@pytest.fixture
def fastapi_client() -> tuple[FastAPI, Verifier]:
    verifier = make_verifier()
    app = install(FastAPI())

    @app.get("/me")
    async def me(claims: Claims = Depends(require_token(verifier))) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims.sub}

    return app, verifier


@pytest.mark.anyio
async def test_fastapi_dependency_checks_proofs(
    make_token: MakeToken, fastapi_client: tuple[FastAPI, Verifier]
) -> None:
    app, _ = fastapi_client
    token = bound(make_token, sub="fa-dpop")
    base = "http://api.test"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        good = await client.get("/me", headers=headers(token, proof(token, url=base + "/me")))
        assert good.json() == {"sub": "fa-dpop"}
        missing = await client.get("/me", headers=headers(token))
        assert (missing.status_code, missing.json()["error"]) == (401, "invalid_dpop_proof")


def test_encrypted_and_bound_token_hashes_the_encrypted_form(make_token: MakeToken) -> None:
    recipient = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), kid="e")
    _, body = jwt.decode_unverified(bound(make_token))
    token = jwt.encode(body, _KEY, typ="at+jwt", encrypt_to=recipient)
    verifier = make_verifier(
        decrypt_with=recipient, decrypt_algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"]
    )
    http = flask_app(verifier).test_client()
    good = proof(token, url="http://localhost/me")
    assert http.get("/me", headers=headers(token, good)).status_code == 200
    # ath covers the token as sent (the JWE), not the signed token inside it.
    inner_hash = proof(_inner(token, recipient), url="http://localhost/me")
    assert http.get("/me", headers=headers(token, inner_hash)).status_code == 401


def _inner(token: str, recipient: jwk.Key) -> str:
    return jwe.decrypt_nested(token, recipient, ["ECDH-ES+A256KW"], ["A256GCM"]).decode()


@pytest.fixture
def prefix() -> str:
    return f"jotgate:test:dpop:{uuid.uuid4().hex}:"


def test_redis_replay_cache_is_shared_between_processes(make_token: MakeToken, prefix: str) -> None:
    need_redis()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        # Two verifiers stand for two worker processes sharing one Redis.
        one = make_verifier(dpop_replay=dpop.RedisReplayCache(client, prefix=prefix))
        two = make_verifier(dpop_replay=dpop.RedisReplayCache(client, prefix=prefix))
        token = bound(make_token)
        value = proof(token, url="http://localhost/me")
        assert (
            flask_app(one).test_client().get("/me", headers=headers(token, value)).status_code
            == 200
        )
        replay = flask_app(two).test_client().get("/me", headers=headers(token, value))
        assert error(replay) == "invalid_dpop_proof"
        # Per-process memory caches do not see each other's proofs (documented).
        value = proof(token, url="http://localhost/me")
        for verifier in (make_verifier(), make_verifier()):
            response = flask_app(verifier).test_client().get("/me", headers=headers(token, value))
            assert response.status_code == 200
    finally:
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        client.close()


@pytest.fixture
async def aredis() -> AsyncIterator[Any]:
    need_redis()
    client = redis_asyncio.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.mark.anyio
async def test_async_redis_replay_cache_with_averify(
    make_token: MakeToken, aredis: Any, prefix: str
) -> None:
    cache = dpop.AsyncRedisReplayCache(aredis, prefix=prefix)
    one, two = make_verifier(dpop_replay=cache), make_verifier(dpop_replay=cache)
    token = bound(make_token)
    url = "https://api.test/x"
    request = DPoPRequest("GET", url, (proof(token, url=url),))
    assert (await one.averify(token, dpop=request)).sub
    with pytest.raises(dpop.DPoPError):
        await two.averify(token, dpop=request)
    with pytest.raises(TypeError, match="averify"):
        one.verify(token, dpop=DPoPRequest("GET", url, (proof(token, url=url),)))
    async for key in aredis.scan_iter(prefix + "*"):
        await aredis.delete(key)


@pytest.mark.anyio
async def test_asgi_middleware_awaits_an_async_replay_cache(
    make_token: MakeToken, aredis: Any, prefix: str
) -> None:
    from .test_dpop import app_for, dpop_headers

    verifier = make_verifier(dpop_replay=dpop.AsyncRedisReplayCache(aredis, prefix=prefix))
    assert verifier.awaits
    assert not make_verifier().awaits
    token = bound(make_token, sub="async-replay")
    transport = httpx.ASGITransport(app=app_for(verifier))
    base = "https://api.example.test"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        good = dpop_headers(token, proof(token))
        assert (await client.get("/notes", headers=good)).json() == {"sub": "async-replay"}
        again = await client.get("/notes", headers=good)
        assert (again.status_code, again.json()["error"]) == (401, "invalid_dpop_proof")
    async for key in aredis.scan_iter(prefix + "*"):
        await aredis.delete(key)
