"""JWK metadata rules (RFC 7517 §4.2-4.4) and how short a symmetric secret may be.

Kept beside :mod:`jotgate._key`, which applies them when a key is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ._keycheck import MIN_ENCRYPTION_SECRET, MIN_HMAC_SECRET, MIN_PBES2_PASSWORD
from .errors import InvalidKeyError

__all__ = [
    "ENCRYPTION_ALGS",
    "PASSWORD_ALGS",
    "check_key_ops",
    "check_metadata_str",
    "minimum_secret",
    "public_ops",
]

# Algorithms that use a symmetric key for encryption (JWE, RFC 7518 §4-5);
# such keys may be shorter than an HMAC secret but never sign.
ENCRYPTION_ALGS: Final = frozenset(
    {"dir", "A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW"}
    | {"A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"}
)
# Password-based key wrapping (RFC 7518 §4.8): the secret is a password.
PASSWORD_ALGS: Final = frozenset({"PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW"})


def minimum_secret(alg: object, use: object = None) -> int:
    """Shortest secret accepted for a key with this ``alg`` and ``use``."""
    if alg in PASSWORD_ALGS:
        return MIN_PBES2_PASSWORD
    if use == "enc" or alg in ENCRYPTION_ALGS:
        return MIN_ENCRYPTION_SECRET
    return MIN_HMAC_SECRET


def check_metadata_str(value: object, name: str) -> str | None:
    """``value`` if it is a string or None; else InvalidKeyError naming the member."""
    if value is not None and not isinstance(value, str):
        raise InvalidKeyError(f"JWK '{name}' must be a string")
    return value


def check_key_ops(ops: Iterable[str] | None) -> frozenset[str] | None:
    """``key_ops`` as a frozenset of unique strings (None stays None)."""
    if ops is None:
        return None
    listed = list(ops)
    if not all(isinstance(op, str) for op in listed) or len(set(listed)) != len(listed):
        raise InvalidKeyError("JWK 'key_ops' must be unique strings")
    return frozenset(listed)


def public_ops(ops: frozenset[str] | None) -> frozenset[str] | None:
    """The operations a public half may keep."""
    if ops is None:
        return None
    return ops & {"verify", "encrypt", "wrapKey"}
