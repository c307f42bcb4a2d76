"""The JWE content-encryption table (RFC 7518 §5), as data.

Each ``enc`` value is one :class:`ContentEncryption` row: how long its key
(the CEK), IV and tag are, and a ``prepare(cek)`` that returns a
:class:`ContentCipher` bound to that key. Every primitive is
``cryptography``'s: ``AESGCM`` for AES-GCM, and ``Cipher(AES, CBC)`` with
PKCS#7 padding plus ``HMAC`` for the AES-CBC-HMAC-SHA2 composite.

Failure is uniform: :meth:`ContentCipher.open` returns None for a wrong key,
a wrong tag, altered associated data or a bad IV alike, and the JWE layer
turns every None into the one :class:`~jotgate.errors.DecryptionError`.
For AES-CBC-HMAC the tag is checked (in constant time) before anything is
decrypted, so padding errors can never be observed: no padding oracle.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError

__all__ = [
    "DECRYPTION_FAILED",
    "ENCRYPTIONS",
    "ContentCipher",
    "ContentEncryption",
    "fail",
    "open_once",
]

#: The one message of every decryption failure, whatever step failed.
DECRYPTION_FAILED: Final = "the JWE could not be decrypted"


def fail() -> NoReturn:
    """Raise the one DecryptionError. ``from None``: no cause that names the step."""
    raise DecryptionError(DECRYPTION_FAILED) from None


class ContentCipher(Protocol):
    """A content cipher bound to one CEK."""

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
        """Encrypt under a fresh random IV: (iv, ciphertext, tag)."""
        ...

    def open(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes | None:
        """The plaintext, or None when anything at all is wrong."""
        ...


class _Gcm:
    """AES-GCM (RFC 7518 §5.3): 96-bit IV, 128-bit tag."""

    __slots__ = ("_decrypt", "_encrypt")

    def __init__(self, cek: bytes) -> None:
        aead = AESGCM(cek)
        self._encrypt = aead.encrypt
        self._decrypt = aead.decrypt

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
        # A random 96-bit IV per message: safe for 2**32 messages under one key
        # (NIST SP 800-38D §8.3), far beyond what one dir key should carry.
        iv = os.urandom(12)
        sealed = self._encrypt(iv, plaintext, aad)
        return iv, sealed[:-16], sealed[-16:]

    def open(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes | None:
        if len(iv) != 12 or len(tag) != 16:
            return None
        try:
            return self._decrypt(iv, ciphertext + tag, aad)
        except InvalidTag:
            return None


def open_once(
    enc: ContentEncryption, cek: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes
) -> bytes | None:
    """``enc.prepare(cek).open(...)`` for a CEK used once (ECDH-ES: a new CEK per message).

    AES-GCM skips binding a :class:`_Gcm` (the same checks as its ``open``):
    the ``AESGCM`` object serves one message.
    """
    if enc.prepare is _Gcm:
        if len(iv) != 12 or len(tag) != 16:
            return None
        try:
            return AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
        except InvalidTag:
            return None
    return enc.prepare(cek).open(iv, ciphertext, tag, aad)


class _CbcHmac:
    """AES_CBC_HMAC_SHA2 (RFC 7518 §5.2): MAC key first half, AES key second half."""

    __slots__ = ("_aes_key", "_mac", "_tag_size")

    def __init__(self, cek: bytes, hash_factory: Callable[[], hashes.HashAlgorithm]) -> None:
        half = len(cek) // 2
        self._mac = hmac.HMAC(cek[:half], hash_factory())
        self._aes_key = algorithms.AES(cek[half:])
        self._tag_size = half  # T_LEN equals the MAC key length for all three rows

    def _tag(self, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        # M = HMAC(MAC_KEY, A || IV || E || AL); AL is A's length in bits, 64-bit big-endian.
        mac = self._mac.copy()
        mac.update(aad)
        mac.update(iv)
        mac.update(ciphertext)
        mac.update((len(aad) * 8).to_bytes(8, "big"))
        return mac.finalize()[: self._tag_size]

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(self._aes_key, modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return iv, ciphertext, self._tag(aad, iv, ciphertext)

    def open(self, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes | None:
        if len(iv) != 16 or len(tag) != self._tag_size or not ciphertext or len(ciphertext) % 16:
            return None
        # Authenticate first, decrypt only what authenticated: a forged
        # ciphertext never reaches the padding check (no padding oracle).
        if not _stdlib_hmac.compare_digest(self._tag(aad, iv, ciphertext), tag):
            return None
        decryptor = Cipher(self._aes_key, modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            # Only a sender holding the key can get here: not an oracle.
            return None


@dataclass(frozen=True, slots=True)
class ContentEncryption:
    """One ``enc`` row: sizes, and how to bind a cipher to a CEK."""

    name: str
    #: CEK length in bytes.
    cek_size: int
    #: Builds a cipher bound to a CEK of exactly ``cek_size`` bytes.
    prepare: Callable[[bytes], ContentCipher]


def _cbc_hmac(hash_factory: Callable[[], hashes.HashAlgorithm]) -> Callable[[bytes], _CbcHmac]:
    return lambda cek: _CbcHmac(cek, hash_factory)


#: Every supported ``enc``, by name.
ENCRYPTIONS: Final[dict[str, ContentEncryption]] = {
    row.name: row
    for row in (
        ContentEncryption("A128GCM", 16, _Gcm),
        ContentEncryption("A192GCM", 24, _Gcm),
        ContentEncryption("A256GCM", 32, _Gcm),
        ContentEncryption("A128CBC-HS256", 32, _cbc_hmac(hashes.SHA256)),
        ContentEncryption("A192CBC-HS384", 48, _cbc_hmac(hashes.SHA384)),
        ContentEncryption("A256CBC-HS512", 64, _cbc_hmac(hashes.SHA512)),
    )
}
