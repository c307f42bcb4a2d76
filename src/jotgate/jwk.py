"""Keys and key sets (RFC 7517), bound to what they may be used for.

A :class:`Key` wraps one secret or one ``cryptography`` key object together
with its JWK metadata (``kid``, ``alg``, ``use``, ``key_ops``). Importing
refuses weak or wrong material; using a key checks that its type, curve and
metadata fit the algorithm, so an RSA public key can never act as an HMAC
secret and an encryption key never verifies a signature. Prepared
sign/verify callables are cached on the key, so a key reused across requests
costs no set-up after the first.

Example::

    key = jwk.Key.generate("ES256")
    public_jwks = jwk.KeySet([key]).to_jwks()          # publish this
    keys = jwk.KeySet.from_jwks(public_jwks)           # a verifier loads it
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._key import Key
from ._keyset import KeySet
from .jwa import Algorithm

__all__ = ["Key", "KeySet", "KeySource"]


class KeySource(Protocol):
    """Anything that picks verification keys for a token: Key, KeySet, RemoteKeySet."""

    def select(self, alg: Algorithm, kid: str | None) -> Sequence[Key]:
        """The keys to try for a token with this ``alg`` and ``kid`` (raise when none)."""
        ...
