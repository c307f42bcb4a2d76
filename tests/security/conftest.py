"""Keys shared by the attack tests, made once per session (RSA is slow)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from jotgate import jwk

_PKCS8 = serialization.PrivateFormat.PKCS8
_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Pair:
    """One key pair: the ``cryptography`` private key and jotgate's views of it."""

    alg: str
    raw: Any  # cryptography private key, or the secret bytes for HMAC
    private: jwk.Key
    public: jwk.Key


def _pem(private: Any) -> bytes:
    return private.private_bytes(_PEM, _PKCS8, serialization.NoEncryption())


def make_pair(alg: str, raw: Any, kid: str | None = None) -> Pair:
    if isinstance(raw, bytes):
        key = jwk.Key.from_secret(raw, alg=alg, kid=kid)
        return Pair(alg, raw, key, key)
    private = jwk.Key.from_pem(_pem(raw), alg=alg, kid=kid)
    return Pair(alg, raw, private, private.public_key())


@pytest.fixture(scope="session")
def rsa_raw() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def attacker_rsa_raw() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def raw_keys(rsa_raw: rsa.RSAPrivateKey) -> dict[str, Any]:
    """alg -> cryptography private key (or HMAC secret) for every JWS alg."""
    p256 = ec.generate_private_key(ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    return {
        "HS256": os.urandom(32),
        "HS384": os.urandom(48),
        "HS512": os.urandom(64),
        **{f"{fam}{bits}": rsa_raw for fam in ("RS", "PS") for bits in (256, 384, 512)},
        "ES256": p256,
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES512": ec.generate_private_key(ec.SECP521R1()),
        "ES256K": ec.generate_private_key(ec.SECP256K1()),
        "EdDSA": ed,
        "Ed25519": ed,
        "Ed448": ed448.Ed448PrivateKey.generate(),
    }


@pytest.fixture(scope="session")
def pairs(raw_keys: dict[str, Any]) -> dict[str, Pair]:
    """alg -> Pair, each jotgate key bound to that alg."""
    return {alg: make_pair(alg, raw) for alg, raw in raw_keys.items()}


@pytest.fixture(scope="session")
def secret(raw_keys: dict[str, Any]) -> bytes:
    return raw_keys["HS256"]


@pytest.fixture(scope="session")
def hs_key(pairs: dict[str, Pair]) -> jwk.Key:
    return pairs["HS256"].private


@pytest.fixture(scope="session")
def rsa_public(pairs: dict[str, Pair]) -> jwk.Key:
    return pairs["RS256"].public


@pytest.fixture(scope="session")
def es_pair(pairs: dict[str, Pair]) -> Pair:
    return pairs["ES256"]


@pytest.fixture(scope="session")
def attacker_es_raw() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
