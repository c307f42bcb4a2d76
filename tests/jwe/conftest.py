"""Keys for the JWE tests, made once per session (RSA generation is the slow part).

Every key here is built through jotgate's own public constructors, the way a
user would: secrets with ``Key.from_secret(..., alg=...)``, agreement keys
with ``Key.from_key_object``.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x448, x25519

from jotgate import jwk

#: A PBES2 iteration count that keeps tests fast (the RFC's recommended minimum).
FAST_P2C = 1000

#: CEK sizes of the content encryptions, in bytes.
CEK_SIZES = {
    "A128GCM": 16,
    "A192GCM": 24,
    "A256GCM": 32,
    "A128CBC-HS256": 32,
    "A192CBC-HS384": 48,
    "A256CBC-HS512": 64,
}
ENCRYPTIONS = tuple(CEK_SIZES)
AGREEMENT_CURVES = ("P-256", "P-384", "P-521", "X25519", "X448")


def b64u(data: bytes) -> str:
    """Unpadded base64url, by the standard library (not the code under test)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Decode unpadded base64url with the standard library."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def header_of(token: str) -> dict[str, Any]:
    """The protected header of a compact JWE, read without jotgate."""
    return json.loads(unb64u(token.split(".")[0]))


def raw_secret(key: jwk.Key) -> bytes:
    """A secret key's bytes, read from its own JWK export."""
    return unb64u(key.to_jwk(private=True)["k"])


def agreement_private(crv: str) -> object:
    """A fresh ``cryptography`` private key on ``crv``."""
    curves = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
    if crv in curves:
        return ec.generate_private_key(curves[crv]())
    return x25519.X25519PrivateKey.generate() if crv == "X25519" else x448.X448PrivateKey.generate()


def secret_key(size: int, alg: str) -> jwk.Key:
    """A random secret key of ``size`` bytes bound to ``alg``."""
    return jwk.Key.from_secret(secrets.token_bytes(size), alg=alg)


@pytest.fixture(scope="session")
def rsa_key() -> jwk.Key:
    """One 2048-bit RSA private key for the whole session."""
    return jwk.Key.from_key_object(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def other_rsa_key() -> jwk.Key:
    """A second RSA key, for "wrong key" cases."""
    return jwk.Key.from_key_object(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def agreement_keys() -> dict[str, jwk.Key]:
    """One private agreement key per curve."""
    return {crv: jwk.Key.from_key_object(agreement_private(crv)) for crv in AGREEMENT_CURVES}


@pytest.fixture(scope="session")
def password() -> jwk.Key:
    """A PBES2 password (jotgate wants 32+ bytes for any secret it holds)."""
    return jwk.Key.from_secret(b"correct horse battery staple, 32+ bytes of it")


def key_for(
    alg: str, enc: str, rsa_key: jwk.Key, agreement: dict[str, jwk.Key], pw: jwk.Key
) -> jwk.Key:
    """A private/secret key that fits ``alg`` (and, for dir, ``enc``)."""
    if alg == "dir":
        return secret_key(CEK_SIZES[enc], "dir")
    if alg.startswith("RSA-OAEP"):
        return rsa_key
    if alg.startswith("ECDH-ES"):
        return agreement["P-256"]
    if alg.startswith("PBES2"):
        return pw
    return secret_key(int(alg[1:4]) // 8, alg)
