"""Building JWEs by hand, with ``cryptography`` alone, the way an attacker would.

An attacker who knows a recipient's public key can produce any ECDH-ES token
they like, and one who holds (or is) a dir key can seal any header at all.
These helpers make such tokens without going through jotgate, so the tests
can show that jotgate refuses them for the right reasons and not merely
because a tag happened not to match.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from .conftest import b64u


def seal_gcm(segment: str, key: bytes, plaintext: bytes, encrypted_key: bytes = b"") -> str:
    """A compact JWE over an exact header segment, sealed with AES-GCM under ``key``."""
    iv = os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, plaintext, segment.encode("ascii"))
    return ".".join(
        (segment, b64u(encrypted_key), b64u(iv), b64u(sealed[:-16]), b64u(sealed[-16:]))
    )


def seal_dir(header: dict[str, Any] | bytes, key: bytes, plaintext: bytes) -> str:
    """A ``dir`` token with any header (a dict, or raw JSON bytes)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return seal_gcm(b64u(raw), key, plaintext)


def concat_kdf(z: bytes, enc: str, size: int) -> bytes:
    """RFC 7518 §4.6.2 for direct ECDH-ES with empty apu/apv."""
    other = b"".join(
        (
            len(enc).to_bytes(4, "big") + enc.encode(),
            bytes(4),
            bytes(4),
            (size * 8).to_bytes(4, "big"),
        )
    )
    return ConcatKDFHash(hashes.SHA256(), size, other).derive(z)


def ecdh_es_token(
    recipient: ec.EllipticCurvePublicKey, epk: dict[str, Any], plaintext: bytes
) -> str:
    """A valid ECDH-ES/A128GCM token to ``recipient`` whose header carries ``epk`` as given.

    The ephemeral key really used is generated here on the recipient's curve;
    ``epk`` may add members to it (``d``, ``kid``...) or be swapped entirely.
    """
    ephemeral = ec.generate_private_key(recipient.curve)
    z = ephemeral.exchange(ec.ECDH(), recipient)
    numbers = ephemeral.public_key().public_numbers()
    size = (recipient.curve.key_size + 7) // 8
    real = {
        "kty": "EC",
        "crv": {256: "P-256", 384: "P-384", 521: "P-521"}[recipient.curve.key_size],
        "x": b64u(numbers.x.to_bytes(size, "big")),
        "y": b64u(numbers.y.to_bytes(size, "big")),
    }
    header = {"alg": "ECDH-ES", "enc": "A128GCM", "epk": {**real, **epk}}
    return seal_gcm(b64u(json.dumps(header).encode()), concat_kdf(z, "A128GCM", 16), plaintext)


def private_scalar_member(private: ec.EllipticCurvePrivateKey) -> str:
    """The ``d`` member of a private EC key."""
    size = (private.curve.key_size + 7) // 8
    return b64u(private.private_numbers().private_value.to_bytes(size, "big"))
