"""Symmetric JWE key management (RFC 7518 §4.4, §4.5, §4.7, §4.8).

The mechanisms behind ``dir``, ``A128KW``..``A256KW``,
``A128GCMKW``..``A256GCMKW`` and ``PBES2-HS256+A128KW``..: each class is
built once per key and algorithm (the key caches it) and then yields the
content cipher for every message. All primitives are ``cryptography``'s
(``aes_key_wrap``/``aes_key_unwrap``, ``AESGCM``, ``PBKDF2HMAC``).

Every decryption failure goes through :func:`jotgate._jwe_content.fail`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from . import _b64
from ._jwe_content import ContentCipher, ContentEncryption, fail
from .errors import InvalidKeyError, JoseError

__all__ = [
    "PBES2_DEFAULT_COUNT",
    "PBES2_MIN_COUNT",
    "AesGcmKw",
    "AesKw",
    "Direct",
    "Pbes2",
    "b64_param",
    "unwrap",
]

#: PBES2 iteration count used when the caller names none. RFC 7518 §4.8.1.2
#: recommends at least 1000; jose@6 refuses more than 10000 by default, so
#: more would not interoperate.
PBES2_DEFAULT_COUNT: Final = 10_000
#: Fewest PBES2 iterations jotgate will encrypt with (RFC 7518 §4.8.1.2).
PBES2_MIN_COUNT: Final = 1000
#: Fewest salt bytes accepted on decrypt (RFC 7518 §4.8.1.1: "8 or more").
_PBES2_MIN_SALT: Final = 8
_PBES2_SALT_SIZE: Final = 16
_PBES2_HASHES: Final[dict[int, Callable[[], hashes.HashAlgorithm]]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    512: hashes.SHA512,
}


def b64_param(header: Mapping[str, Any], name: str) -> bytes:
    """A base64url header parameter's bytes, or the one DecryptionError."""
    value = header.get(name)
    if not isinstance(value, str):
        fail()
    try:
        return _b64.decode(value)
    except JoseError:
        fail()


def unwrap(kek: bytes, enc: ContentEncryption, wrapped: bytes) -> bytes:
    """RFC 3394 unwrap of a CEK for ``enc``, or the one DecryptionError."""
    # A wrapped key is 8 bytes longer than the key (RFC 3394 §2.2.1).
    if len(wrapped) != enc.cek_size + 8:
        fail()
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap:
        fail()


class Direct:
    """``dir``: the shared key is the CEK, so ciphers are prepared once per ``enc``."""

    __slots__ = ("_alg", "_ciphers", "_secret")
    dynamic = False

    def __init__(self, secret: bytes, alg: str | None) -> None:
        self._secret = secret
        self._alg = alg
        self._ciphers: dict[str, ContentCipher | None] = {}

    def _cipher(self, enc: ContentEncryption) -> ContentCipher | None:
        try:
            return self._ciphers[enc.name]
        except KeyError:
            pass
        # Exact size, and a key that names an enc serves that enc only.
        fits = len(self._secret) == enc.cek_size and self._alg in (None, "dir", enc.name)
        cipher = enc.prepare(self._secret) if fits else None
        self._ciphers[enc.name] = cipher
        return cipher

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        cipher = self._cipher(enc)
        if cipher is None:
            raise InvalidKeyError(
                f"dir with {enc.name} needs a key of exactly {enc.cek_size} bytes for {enc.name}"
            )
        return cipher, b""

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        cipher = self._cipher(enc)
        if cipher is None or encrypted_key:
            fail()
        return cipher


class AesKw:
    """A128KW/A192KW/A256KW: RFC 3394 AES Key Wrap of a random CEK."""

    __slots__ = ("_kek",)
    dynamic = False

    def __init__(self, kek: bytes) -> None:
        self._kek = kek

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        cek = os.urandom(enc.cek_size)
        return enc.prepare(cek), aes_key_wrap(self._kek, cek)

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        return enc.prepare(unwrap(self._kek, enc, encrypted_key))


class AesGcmKw:
    """A128GCMKW/A192GCMKW/A256GCMKW (RFC 7518 §4.7): ``iv`` and ``tag`` ride in the header."""

    __slots__ = ("_aead",)
    dynamic = True

    def __init__(self, kek: bytes) -> None:
        self._aead = AESGCM(kek)

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        cek = os.urandom(enc.cek_size)
        iv = os.urandom(12)
        sealed = self._aead.encrypt(iv, cek, None)
        params["iv"] = _b64.encode_str(iv)
        params["tag"] = _b64.encode_str(sealed[-16:])
        return enc.prepare(cek), sealed[:-16]

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        iv, tag = b64_param(header, "iv"), b64_param(header, "tag")
        if len(iv) != 12 or len(tag) != 16 or len(encrypted_key) != enc.cek_size:
            fail()
        try:
            cek = self._aead.decrypt(iv, encrypted_key + tag, None)
        except InvalidTag:
            fail()
        return enc.prepare(cek)


class Pbes2:
    """PBES2-HS256+A128KW.. (RFC 7518 §4.8): PBKDF2 over the password, then AES Key Wrap."""

    __slots__ = ("_alg_id", "_hash", "_kek_size", "_password")
    dynamic = True

    def __init__(self, password: bytes, name: str, bits: int, kek_size: int) -> None:
        self._password = password
        # The salt is UTF8(alg) || 0x00 || p2s (RFC 7518 §4.8.1.1).
        self._alg_id = name.encode("ascii") + b"\x00"
        self._hash = _PBES2_HASHES[bits]
        self._kek_size = kek_size

    def _kek(self, salt: bytes, count: int) -> bytes:
        kdf = PBKDF2HMAC(self._hash(), self._kek_size, self._alg_id + salt, count)
        return kdf.derive(self._password)

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        count = params.get("p2c", PBES2_DEFAULT_COUNT)
        if type(count) is not int or count < PBES2_MIN_COUNT:
            raise InvalidKeyError(f"PBES2 needs an integer p2c of at least {PBES2_MIN_COUNT}")
        salt = os.urandom(_PBES2_SALT_SIZE)
        params["p2s"] = _b64.encode_str(salt)
        params["p2c"] = count
        cek = os.urandom(enc.cek_size)
        return enc.prepare(cek), aes_key_wrap(self._kek(salt, count), cek)

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        count = header.get("p2c")
        # The cap is checked before any work: a huge p2c is a denial of service.
        if type(count) is not int or not 1 <= count <= max_p2c:
            fail()
        salt = b64_param(header, "p2s")
        if len(salt) < _PBES2_MIN_SALT or len(encrypted_key) != enc.cek_size + 8:
            fail()
        return enc.prepare(unwrap(self._kek(salt, count), enc, encrypted_key))
