"""Fixtures for the middleware: one key pair per session, tokens made to order.

Apps under test are real (Starlette, FastAPI, Litestar through
``httpx.ASGITransport`` or Starlette's TestClient; Flask and Django through
their test clients) and Redis is the real one at 127.0.0.1:6379: those tests
skip when it is unreachable, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from jotgate import jwk, jwt
from jotgate.middleware import Verifier

ISSUER = "https://auth.example.test"
AUDIENCE = "notes-api"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"

# Generated once: key generation is the slow part of these tests.
_KEY = jwk.Key.generate("ES256", kid="k1")
_OTHER_KEY = jwk.Key.generate("ES256", kid="k1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def key() -> jwk.Key:
    return _KEY


@pytest.fixture
def other_key() -> jwk.Key:
    """Same kid, different key: its tokens must never verify."""
    return _OTHER_KEY


MakeToken = Callable[..., str]


@pytest.fixture
def make_token() -> MakeToken:
    """A signed access token shaped like the auth server's; keyword arguments override claims."""

    def make(
        *, signer: jwk.Key = _KEY, typ: str = "at+jwt", lifetime: int = 900, **overrides: Any
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "sid": uuid.uuid4().hex,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + lifetime,
            "roles": ["user"],
            "scope": "notes:read",
        }
        claims.update(overrides)
        for name in [name for name, value in claims.items() if value is None]:
            del claims[name]
        return jwt.encode(claims, signer, typ=typ)

    return make


def make_verifier(key: jwk.Key = _KEY, **options: Any) -> Verifier:
    options.setdefault("algorithms", ["ES256"])
    options.setdefault("issuer", ISSUER)
    options.setdefault("audience", AUDIENCE)
    options.setdefault("typ", "at+jwt")
    return Verifier(key, **options)


@pytest.fixture
def verifier() -> Verifier:
    return make_verifier()


def need_redis() -> None:
    """Skip (or, under CI=true, fail) when Redis is not listening."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1):
            return
    except OSError:
        message = f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: required)")
        pytest.skip(message)
