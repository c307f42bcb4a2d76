"""Tokens as an attacker builds them: by hand, without jotgate's signer.

Every helper here writes the exact bytes it is given, so a test can put a
duplicate member, a UTF-16 header or a ``crit`` list into a token that still
carries a *valid* signature. A refusal then has to come from the check under
test, not from a signature that happens to be wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_EC_SIZES = {"secp256r1": 32, "secp384r1": 48, "secp521r1": 66, "secp256k1": 32}


def b64(data: bytes) -> str:
    """Canonical unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def to_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def segment(part: dict[str, Any] | bytes) -> str:
    """A header or payload segment: dicts as compact JSON, bytes verbatim."""
    return b64(part if isinstance(part, bytes) else to_json(part))


def signing_input(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes) -> str:
    return f"{segment(header)}.{segment(payload)}"


def raw_signature(alg: str, key: Any, data: bytes) -> bytes:
    """Sign ``data`` for ``alg`` straight through ``cryptography`` (or hmac)."""
    if alg in _HMAC_HASHES:
        return hmac.new(key, data, _HMAC_HASHES[alg]).digest()
    if alg[:2] in ("RS", "PS"):
        assert isinstance(key, rsa.RSAPrivateKey)
        digest = _HASHES[alg[2:]]()
        if alg.startswith("PS"):
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(_HASHES[alg[2:]]()), salt_length=digest.digest_size
            )
        else:
            pad = padding.PKCS1v15()
        return key.sign(data, pad, digest)
    if alg.startswith("ES"):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        digest = _HASHES["256" if alg == "ES256K" else alg[2:]]()
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = _EC_SIZES[key.curve.name]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    return key.sign(data)


def forge(
    alg: str,
    key: Any,
    header: dict[str, Any] | bytes,
    payload: dict[str, Any] | bytes,
) -> str:
    """A compact JWS over exactly these header and payload bytes, validly signed.

    ``header`` is used as given: the caller decides what ``alg`` it names.
    """
    data = signing_input(header, payload)
    return f"{data}.{b64(raw_signature(alg, key, data.encode('ascii')))}"


def with_signature(token: str, signature: bytes) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{b64(signature)}"


def signature_of(token: str) -> bytes:
    return unb64(token.rsplit(".", 1)[1])
