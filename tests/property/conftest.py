"""Keys for the property tests, made once: hypothesis re-runs test bodies
hundreds of times and must not pay for RSA key generation each time."""

from __future__ import annotations

import functools

from jotgate import jwa, jwk


@functools.cache
def key_for(alg: str) -> jwk.Key:
    """A private key bound to ``alg``; RSA algorithms share one 2048-bit key."""
    row = jwa.ALGORITHMS[alg]
    if row.kty == "RSA":
        return jwk.Key.from_pem(_rsa_pem(), alg=alg)
    if alg == "EdDSA":
        return jwk.Key.from_pem(key_for("Ed25519").to_pem(private=True), alg=alg)
    return jwk.Key.generate(alg)


@functools.cache
def _rsa_pem() -> bytes:
    return jwk.Key.generate("RS256").to_pem(private=True)
