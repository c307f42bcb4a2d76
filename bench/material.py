"""Keys, the access-token payload and hand-minted tokens, built by the benchmark's parent.

The parent imports ``cryptography`` only (no JOSE library), mints every token itself and
checks what the libraries produce, so no library under test is the judge of another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from adapters import ALGS, Claims, Material

__all__ = ["AUDIENCE", "ISSUER", "LIFETIME", "Minter", "access_claims"]

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
LIFETIME = 900  # the access-token lifetime DESIGN.md uses (15 min)

_PKCS1 = padding.PKCS1v15()
_ECDSA = ec.ECDSA(hashes.SHA256())


def access_claims(now: int) -> Claims:
    """A typical access-token payload, as the auth server issues it (DESIGN.md)."""
    return {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": AUDIENCE,
        "exp": now + LIFETIME,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "roles": ["user", "billing:read"],
        "scope": "openid profile orders:read orders:write",
    }


def _hmac_secret() -> bytes:
    # 32 random bytes, redrawn if they start like DER (0x30, a SEQUENCE): a strict library
    # may rightly refuse such a secret, and that one-in-256 draw must not fail a run.
    while True:
        secret = secrets.token_bytes(32)
        if secret[0] != 0x30:
            return secret


def _private_keys() -> dict[str, Any]:
    return {
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _sign(alg: str, secret: bytes, key: Any, data: bytes) -> bytes:
    if alg == "HS256":
        return hmac.digest(secret, data, hashlib.sha256)
    if alg == "RS256":
        sig: bytes = key.sign(data, _PKCS1, hashes.SHA256())
        return sig
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, _ECDSA))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    sig = key.sign(data)
    return sig


def _mint(alg: str, secret: bytes, key: Any, claims: Claims) -> str:
    header = {"alg": alg, "typ": "JWT"}
    signing_input = ".".join(
        _b64e(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    return signing_input + "." + _b64e(_sign(alg, secret, key, signing_input.encode()))


class Minter:
    """Holds the run's keys; mints the shared tokens and checks libraries' tokens."""

    def __init__(self) -> None:
        self.secret = _hmac_secret()
        self.keys = _private_keys()

    def material(self, now: int | None = None) -> Material:
        """Fresh claims (``exp`` = now + 900) and one token per alg that every library decodes."""
        claims = access_claims(int(time.time()) if now is None else now)
        pem = serialization.Encoding.PEM
        return Material(
            secret=self.secret,
            private_pem={
                alg: k.private_bytes(
                    pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                for alg, k in self.keys.items()
            },
            public_pem={
                alg: k.public_key().public_bytes(
                    pem, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                for alg, k in self.keys.items()
            },
            claims=claims,
            issuer=ISSUER,
            audience=AUDIENCE,
            tokens={alg: self.mint(alg, claims) for alg in ALGS},
        )

    def mint(self, alg: str, claims: Claims) -> str:
        """A compact JWS over ``claims`` with header ``{"alg", "typ": "JWT"}``."""
        return _mint(alg, self.secret, self.keys.get(alg), claims)

    def negatives(self, alg: str, claims: Claims) -> dict[str, str]:
        """Tokens every library's decode must refuse: proof the checks are really on."""
        now = int(time.time())
        expired = {**claims, "iat": now - 2 * LIFETIME, "exp": now - LIFETIME}
        no_exp = {k: v for k, v in claims.items() if k != "exp"}
        good = self.mint(alg, claims)
        head, _, sig = good.rpartition(".")
        # Flip bits in the middle of the signature; the last character may hold padding bits.
        mid = len(sig) // 2
        bad_sig = head + "." + sig[:mid] + ("A" if sig[mid] != "A" else "B") + sig[mid + 1 :]
        return {
            "bad_signature": bad_sig,
            "expired": self.mint(alg, expired),
            "missing_exp": self.mint(alg, no_exp),
            "wrong_iss": self.mint(alg, {**claims, "iss": "https://evil.example.com"}),
            "wrong_aud": self.mint(alg, {**claims, "aud": "https://other.example.com"}),
        }

    def verify_token(self, alg: str, token: str) -> Claims:
        """Verify a library-made token with bare ``cryptography``; return its claims."""
        header_b64, payload_b64, sig_b64 = token.split(".")
        header = json.loads(_b64d(header_b64))
        if header.get("alg") != alg:
            raise ValueError(f"header alg is {header.get('alg')!r}, want {alg}")
        data = f"{header_b64}.{payload_b64}".encode()
        sig = _b64d(sig_b64)
        if alg == "HS256":
            if not hmac.compare_digest(sig, _sign(alg, self.secret, None, data)):
                raise ValueError("HS256 signature does not verify")
        else:
            pub = self.keys[alg].public_key()
            if alg == "RS256":
                pub.verify(sig, data, _PKCS1, hashes.SHA256())
            elif alg == "ES256":
                r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
                pub.verify(encode_dss_signature(r, s), data, _ECDSA)
            else:
                pub.verify(sig, data)
        claims: Claims = json.loads(_b64d(payload_b64))
        return claims
