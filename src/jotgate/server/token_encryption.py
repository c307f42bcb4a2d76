"""Encrypted access tokens: signed, then encrypted (nested JWT, RFC 7519 §5.2).

With ``ACCESS_TOKEN_ENCRYPTION`` = ``ECDH-ES+A256KW`` or ``dir`` the signed
access token is wrapped in a compact JWE (content ``A256GCM``), so clients
and browsers hold an opaque string: the claims (user id, roles, session) are
readable only by whoever has the decryption key. Only the server encrypts;
verifiers (gateway, middleware, this server's own checks) decrypt.

Keys come from the database (:data:`.keystore.ENCRYPTION`: made at first
start, rotated with ``jotgate keys rotate --use enc``, exported to verifiers
with ``jotgate keys export --use enc --private``), or for ``dir`` from
``ACCESS_TOKEN_KEY`` (operator-managed secrets: the first encrypts, every one
decrypts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jotgate import jwk

from .keystore import ENCRYPTION, KeyStore, LoadedKeys
from .settings import Settings

__all__ = ["CONTENT_ENCRYPTION", "EncryptionKeys", "StaticKeys", "open_encryption_keys"]

#: The JWE ``enc`` of every encrypted access token.
CONTENT_ENCRYPTION: Final = "A256GCM"


class EncryptionKeys(Protocol):
    """Where the token service gets the key to encrypt to and the keys that decrypt."""

    @property
    def alg(self) -> str:
        """The JWE key management algorithm."""
        ...

    async def current(self) -> LoadedKeys:
        """``signing``: the key to encrypt to; ``verifying``: every key that decrypts."""
        ...

    async def after_unknown_kid(self) -> LoadedKeys | None:
        """Fresh keys after a token no current key decrypted, or None (nothing to reload)."""
        ...


@dataclass(frozen=True)
class StaticKeys:
    """``dir`` secrets from ``ACCESS_TOKEN_KEY``: the first encrypts, all decrypt.

    The operator rotates by listing a new secret first, handing the list to
    every verifier, and dropping the old one an access-token lifetime later.
    """

    loaded: LoadedKeys
    alg: str = "dir"

    @classmethod
    def from_secrets(cls, secrets: tuple[bytes, ...]) -> StaticKeys:
        """Keys for ``secrets`` (32 bytes each), with kids derived from them.

        The kid is a short hash of the secret: it names the key in the JWE
        header without revealing anything usable about 256 random bits.
        """
        keys = [
            jwk.Key.from_secret(raw, alg="dir", kid="env-" + hashlib.sha256(raw).hexdigest()[:16])
            for raw in secrets
        ]
        return cls(LoadedKeys(signing=keys[0], verifying=jwk.KeySet(keys), algorithms=("dir",)))

    async def current(self) -> LoadedKeys:
        """The keys, as configured."""
        return self.loaded

    async def after_unknown_kid(self) -> LoadedKeys | None:
        """Nothing to reload: the keys come from the environment."""
        return None


async def open_encryption_keys(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> EncryptionKeys | None:
    """The configured encryption keys (created in the database if needed), or None when off."""
    alg = settings.access_token_encryption
    if alg == "off":
        return None
    if settings.access_token_key:
        return StaticKeys.from_secrets(settings.access_token_key)
    store = KeyStore(
        sessions,
        alg=alg,
        secret=settings.secret,
        # A replaced key decrypts until the last token encrypted to it expires.
        retain_for=settings.access_token_ttl + 60,
        kind=ENCRYPTION,
    )
    await store.start()
    return store
