"""The JWE key-management table (RFC 7518 §4), as data.

Each supported ``alg`` is one :class:`KeyManagement` row: which key types and
curves it takes, the exact secret size it needs, which header parameters it
owns, which ``key_ops`` permit it, and how to build its :class:`Manager` for
a key. The mechanisms live in :mod:`jotgate._jwe_wrap` (symmetric) and
:mod:`jotgate._jwe_agree` (RSA-OAEP, ECDH-ES); a key caches its manager per
algorithm, so a key reused across requests is checked and prepared once.

RSA1_5 is not in the table in any spelling (Bleichenbacher), so nothing can
ever decrypt or produce it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ._jwe_agree import Ecdh, RsaOaep
from ._jwe_content import ENCRYPTIONS, ContentCipher, ContentEncryption
from ._jwe_wrap import AesGcmKw, AesKw, Direct, Pbes2
from .jwk import Key

__all__ = ["ALGORITHMS", "FAMILY_PARAMS", "KeyManagement", "Manager", "manager_for"]


class Manager(Protocol):
    """Key management for one key under one ``alg`` (cached on the key)."""

    #: True when every message gets header parameters of its own (epk, iv, p2s...).
    dynamic: bool

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        """(content cipher, encrypted key) for a new message; adds header params."""
        ...

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        """The content cipher for a received message, or the one DecryptionError."""
        ...


@dataclass(frozen=True, slots=True)
class KeyManagement:
    """One ``alg`` row."""

    name: str
    #: JWK ``kty`` values a key may have.
    ktys: frozenset[str]
    #: Builds the manager for a key that passed :meth:`unfit_reason`.
    build: Callable[[KeyManagement, Key, bool], Manager]
    #: Curves for EC/OKP rows.
    curves: frozenset[str] = frozenset()
    #: Exact secret length for AES key-wrap keys; 0 when any length will do.
    secret_size: int = 0
    #: Header parameters this algorithm owns; those of other families are refused.
    params: frozenset[str] = frozenset()
    #: Wrapping-key size in bytes (KW, ECDH-ES+KW, PBES2); 0 for none.
    kek_size: int = 0
    #: Hash bits for PBES2's HMAC; 256 marks RSA-OAEP-256.
    bits: int = 0
    #: ``key_ops`` any one of which permits encrypting resp. decrypting.
    encrypt_ops: frozenset[str] = frozenset({"wrapKey"})
    decrypt_ops: frozenset[str] = frozenset({"unwrapKey"})

    def unfit_reason(self, key: Key, decrypting: bool) -> str | None:
        """Why ``key`` cannot serve this alg (type, curve, size, metadata), or None."""
        if key.kty not in self.ktys or (self.curves and key.crv not in self.curves):
            where = f" on {key.crv}" if key.crv else ""
            return f"a {key.kty} key{where} cannot be used with {self.name}"
        # Exact sizes: an A128GCM content key is not an A256KW wrapping key.
        if self.secret_size and len(key._secret or b"") != self.secret_size:
            return f"{self.name} needs a key of exactly {self.secret_size} bytes"
        names: set[str] = {self.name}
        if self.name == "dir":
            names.update(ENCRYPTIONS)  # a dir key may carry its enc as alg (RFC 7520 §5.6)
        ops = self.decrypt_ops if decrypting else self.encrypt_ops
        return key.unusable_reason_for_encryption(names, ops, decrypting=decrypting)


def manager_for(row: KeyManagement, key: Key, decrypting: bool) -> Manager | None:
    """The key's cached manager for ``row``, or None when the key cannot serve it."""
    slot = (row.name, decrypting)
    manager: Manager | None = key._jwe.get(slot)
    if manager is None:
        if row.unfit_reason(key, decrypting) is not None:
            return None
        manager = row.build(row, key, decrypting)
        key._jwe[slot] = manager
    return manager


def _secret(key: Key) -> bytes:
    assert key._secret is not None
    return key._secret


def _direct(row: KeyManagement, key: Key, decrypting: bool) -> Manager:
    return Direct(_secret(key), key.alg)


def _aes_kw(row: KeyManagement, key: Key, decrypting: bool) -> Manager:
    return AesKw(_secret(key))


def _aes_gcm_kw(row: KeyManagement, key: Key, decrypting: bool) -> Manager:
    return AesGcmKw(_secret(key))


def _pbes2(row: KeyManagement, key: Key, decrypting: bool) -> Manager:
    return Pbes2(_secret(key), row.name, row.bits, row.kek_size)


def _rsa_oaep(row: KeyManagement, key: Key, decrypting: bool) -> Manager:
    assert key._public is not None
    return RsaOaep(key._public, key._private if decrypting else None, row.bits == 256)


def _ecdh(row: KeyManagement, key: Key, decrypting: bool) -> Manager:
    assert key._public is not None
    assert key.crv is not None
    private = key._private if decrypting else None
    return Ecdh(row.name, row.kek_size, key.crv, key._public, private)


_OCT: Final = frozenset({"oct"})
_AGREEMENT_CURVES: Final = frozenset({"P-256", "P-384", "P-521", "X25519", "X448"})
_ECDH_PARAMS: Final = frozenset({"epk", "apu", "apv"})
_GCMKW_PARAMS: Final = frozenset({"iv", "tag"})
_PBES2_PARAMS: Final = frozenset({"p2s", "p2c"})
#: Every algorithm-specific header parameter; a header may carry only its own alg's.
FAMILY_PARAMS: Final = _ECDH_PARAMS | _GCMKW_PARAMS | _PBES2_PARAMS


def _ecdh_row(kek_size: int) -> KeyManagement:
    return KeyManagement(
        f"ECDH-ES+A{kek_size * 8}KW" if kek_size else "ECDH-ES",
        frozenset({"EC", "OKP"}),
        _ecdh,
        curves=_AGREEMENT_CURVES,
        params=_ECDH_PARAMS,
        kek_size=kek_size,
        # ECDH keys derive; a published (public) JWK may say wrapKey or encrypt.
        encrypt_ops=frozenset({"deriveKey", "deriveBits", "wrapKey", "encrypt"}),
        decrypt_ops=frozenset({"deriveKey", "deriveBits"}),
    )


def _table() -> dict[str, KeyManagement]:
    rows = [
        KeyManagement(
            "dir",
            _OCT,
            _direct,
            encrypt_ops=frozenset({"encrypt"}),
            decrypt_ops=frozenset({"decrypt"}),
        ),
    ]
    # WebCrypto gives RSA-OAEP keys encrypt/decrypt as well as wrapKey/unwrapKey.
    rsa_encrypt = frozenset({"wrapKey", "encrypt"})
    rsa_decrypt = frozenset({"unwrapKey", "decrypt"})
    for name, bits in (("RSA-OAEP", 1), ("RSA-OAEP-256", 256)):
        rows.append(
            KeyManagement(
                name,
                frozenset({"RSA"}),
                _rsa_oaep,
                bits=bits,
                encrypt_ops=rsa_encrypt,
                decrypt_ops=rsa_decrypt,
            )
        )
    for size, bits in ((16, 256), (24, 384), (32, 512)):
        rows.append(KeyManagement(f"A{size * 8}KW", _OCT, _aes_kw, secret_size=size))
        rows.append(
            KeyManagement(
                f"A{size * 8}GCMKW", _OCT, _aes_gcm_kw, secret_size=size, params=_GCMKW_PARAMS
            )
        )
        rows.append(
            KeyManagement(
                f"PBES2-HS{bits}+A{size * 8}KW",
                _OCT,
                _pbes2,
                params=_PBES2_PARAMS,
                kek_size=size,
                bits=bits,
                encrypt_ops=frozenset({"wrapKey", "deriveKey"}),
                decrypt_ops=frozenset({"unwrapKey", "deriveKey"}),
            )
        )
    for kek_size in (0, 16, 24, 32):
        rows.append(_ecdh_row(kek_size))
    return {row.name: row for row in rows}


#: Every supported key-management algorithm, by name.
ALGORITHMS: Final[dict[str, KeyManagement]] = _table()
