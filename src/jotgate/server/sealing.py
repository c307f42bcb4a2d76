"""Authenticated encryption of small secrets at rest (AES-256-GCM from ``cryptography``).

One :class:`Sealer` per purpose, with its key derived by HKDF-SHA256 from the
operator's ``SECRET`` and the purpose name, so a ciphertext of one purpose can
never be opened as another (the purpose is also the GCM associated data).
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealError", "Sealer"]

_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12


class SealError(Exception):
    """A sealed value could not be opened: wrong key, wrong purpose or tampered."""


class Sealer:
    """Seal and open byte strings for one ``purpose``.

    >>> sealer = Sealer.from_secret("a long operator secret", purpose="signing-key")
    >>> sealer.open(sealer.seal(b"x"))
    b'x'
    """

    def __init__(self, key: bytes, *, purpose: str) -> None:
        if len(key) != 32:
            raise ValueError("a sealing key is 32 bytes")
        self._aead = AESGCM(key)
        self._aad = b"jotgate/" + purpose.encode()

    @classmethod
    def from_secret(cls, secret: str | bytes, *, purpose: str) -> Sealer:
        """Derive the key for ``purpose`` from an operator secret or a random server key."""
        material = secret.encode() if isinstance(secret, str) else secret
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"jotgate sealing v1",
            info=purpose.encode(),
        ).derive(material)
        return cls(key, purpose=purpose)

    def seal(self, plaintext: bytes) -> bytes:
        """``version || nonce || ciphertext+tag``; a fresh random nonce every time."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._aad)

    def open(self, sealed: bytes) -> bytes:
        """The plaintext, or :class:`SealError`."""
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], self._aad)
        except InvalidTag:
            raise SealError("sealed value does not open with this key") from None
