"""Fixtures for DPoP: client keys made once, a forger for hand-built proofs, real Redis.

Redis is the real one at 127.0.0.1:6379: those tests skip when it is
unreachable, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from jotgate import _b64, _json, dpop, jwk, jws
from jotgate.jwa import ALGORITHMS

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
URL = "https://api.example.com/notes"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl"  # its shape is all that matters

# Key generation is the slow part (RSA above all): once per session.
KEYS = {alg: jwk.Key.generate(alg) for alg in ("ES256", "EdDSA", "RS256", "PS256")}
OTHER_ES256 = jwk.Key.generate("ES256")


@pytest.fixture
def key() -> jwk.Key:
    """The client's ES256 key."""
    return KEYS["ES256"]


@pytest.fixture
def other_key() -> jwk.Key:
    """Another client's key."""
    return OTHER_ES256


@pytest.fixture
def replay() -> dpop.MemoryReplayCache:
    return dpop.MemoryReplayCache()


def public_members(key: jwk.Key) -> dict[str, Any]:
    """The RFC 7638 members of ``key``'s public JWK, as a proof header carries them."""
    members = key.to_jwk()
    return {n: members[n] for n in ("kty", "crv", "x", "y", "n", "e") if n in members}


def default_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "jti": os.urandom(16).hex(),
        "htm": "GET",
        "htu": URL,
        "iat": int(time.time()),
        "ath": dpop.access_token_hash(TOKEN),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


Forge = Callable[..., str]


@pytest.fixture
def forge() -> Forge:
    """A proof built by hand: any header, any claims, signed by any key.

    ``header`` members override the honest ones (``None`` deletes one);
    ``claims`` likewise; ``signer`` signs (default: the key in the header).
    """

    def make(
        *,
        key: jwk.Key = KEYS["ES256"],
        signer: jwk.Key | None = None,
        alg: str = "ES256",
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        fields: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": public_members(key)}
        fields.update(header or {})
        fields = {k: v for k, v in fields.items() if v is not None}
        segment = _b64.encode(_json.dumps(fields))
        payload = _b64.encode(_json.dumps(default_claims(**claims)))
        return jws.sign_segments(payload, signer or key, ALGORITHMS[alg], segment)

    return make


def check(proof: object, **options: Any) -> dpop.Proof:
    """verify_proof for the request ``GET URL`` with ``TOKEN``, bound to the ES256 key."""
    args: dict[str, Any] = {
        "htm": "GET",
        "htu": URL,
        "access_token": TOKEN,
        "expected_jkt": KEYS["ES256"].thumbprint(),
        "replay": None,
    }
    args.update(options)
    return dpop.verify_proof(proof, **args)


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
