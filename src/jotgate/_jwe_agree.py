"""Asymmetric JWE key management: RSAES-OAEP and ECDH-ES (RFC 7518 §4.3, §4.6).

* RSA-OAEP (SHA-1, MGF1-SHA-1) and RSA-OAEP-256 (SHA-256, MGF1-SHA-256).
  RSA1_5 is deliberately absent: PKCS#1 v1.5 encryption invites
  Bleichenbacher's attack, and RFC 7516 §11.5 can only mitigate it. A failed
  OAEP decryption does not raise: it continues with a random CEK, so it fails
  later at the tag, like any other tampering, and takes the same path.
* ECDH-ES alone (the agreed key is the CEK) or with AES Key Wrap, over
  P-256/P-384/P-521, X25519 and X448, with the Concat KDF of NIST SP 800-56A
  (single-step, SHA-256, ``cryptography``'s ``ConcatKDFHash``). The sender's ephemeral key ``epk``
  must be a public key of our key's type and curve, and on that curve
  (invalid-curve attacks); X25519/X448 low-order points are refused by the
  all-zero-secret check in ``cryptography``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from . import _b64
from ._b64 import decode_ascii
from ._jwe_content import ContentCipher, ContentEncryption, fail
from ._jwe_wrap import b64_param, unwrap
from ._jwk_members import AnyPrivate, AnyPublic
from .errors import InvalidKeyError, JoseError
from .jwa import EC_CURVES

__all__ = ["Ecdh", "RsaOaep", "concat_kdf"]

_ECDH: Final = ec.ECDH()
# A hash algorithm object only names the hash: one serves every derivation.
_SHA256: Final = hashes.SHA256()
_from_encoded_point: Final = ec.EllipticCurvePublicKey.from_encoded_point
_X962: Final = serialization.Encoding.X962
_UNCOMPRESSED: Final = serialization.PublicFormat.UncompressedPoint

# OKP agreement curve -> (private class, public class, key length).
_OKP: Final[dict[str, tuple[Any, Any, int]]] = {
    "X25519": (x25519.X25519PrivateKey, x25519.X25519PublicKey, 32),
    "X448": (x448.X448PrivateKey, x448.X448PublicKey, 56),
}


class RsaOaep:
    """RSA-OAEP / RSA-OAEP-256 key encryption of a random CEK."""

    __slots__ = ("_padding", "_private", "_public", "_size")
    dynamic = False

    def __init__(self, public: AnyPublic, private: AnyPrivate | None, sha256: bool) -> None:
        digest = hashes.SHA256 if sha256 else hashes.SHA1
        self._padding = padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
        assert isinstance(public, rsa.RSAPublicKey)
        assert private is None or isinstance(private, rsa.RSAPrivateKey)
        self._public = public
        self._private = private
        self._size = (public.key_size + 7) // 8

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        cek = os.urandom(enc.cek_size)
        return enc.prepare(cek), self._public.encrypt(cek, self._padding)

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        assert self._private is not None
        # The random CEK is drawn first on every path, so that success and
        # failure cost the same up to the RSA operation itself.
        fallback = os.urandom(enc.cek_size)
        cek = fallback
        if len(encrypted_key) == self._size:
            try:
                cek = self._private.decrypt(encrypted_key, self._padding)
            except ValueError:
                cek = fallback
        if len(cek) != enc.cek_size:
            cek = fallback
        return enc.prepare(cek)


def concat_kdf(z: bytes, length: int, other_info: bytes) -> bytes:
    """The Concat KDF of NIST SP 800-56A §5.8.1 with SHA-256 (RFC 7518 §4.6.2).

    From ``cryptography`` like every primitive here: a hand-written KDF saved
    about 1.5 µs per message, not worth owning crypto code for.
    """
    return ConcatKDFHash(_SHA256, length, other_info).derive(z)


def _length_prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


class Ecdh:
    """ECDH-ES (``kek_size`` 0) or ECDH-ES+AxxxKW (``kek_size`` 16/24/32)."""

    __slots__ = (
        "_crv",
        "_curve",
        "_epk_head",
        "_infos",
        "_kek_size",
        "_okp",
        "_private",
        "_public",
        "_size",
        "_wrap_id",
    )
    dynamic = True

    def __init__(
        self,
        name: str,
        kek_size: int,
        crv: str,
        public: AnyPublic,
        private: AnyPrivate | None,
    ) -> None:
        self._crv = crv
        self._public: Any = public
        self._private: Any = private
        self._kek_size = kek_size
        self._wrap_id = _length_prefixed(name.encode("ascii"))
        self._okp = _OKP.get(crv)
        self._curve: ec.EllipticCurve | None = None
        if self._okp is None:
            make, self._size, _ = EC_CURVES[crv]
            self._curve = make()
            self._epk_head = f'{{"crv":"{crv}","kty":"EC","x":"'
        else:
            self._size = self._okp[2]
            self._epk_head = f'{{"crv":"{crv}","kty":"OKP","x":"'
        # Concat KDF OtherInfo without apu/apv, by enc name (built once per enc).
        self._infos: dict[str, tuple[bytes, int]] = {}

    def _other_info(self, enc: ContentEncryption, apu: bytes, apv: bytes) -> tuple[bytes, int]:
        # Concat KDF (RFC 7518 §4.6.2): AlgorithmID is enc for direct
        # agreement, else alg; SuppPubInfo is the derived key's length in bits.
        if self._kek_size:
            algorithm_id, length = self._wrap_id, self._kek_size
        else:
            algorithm_id, length = _length_prefixed(enc.name.encode("ascii")), enc.cek_size
        other_info = b"".join(
            (
                algorithm_id,
                _length_prefixed(apu),
                _length_prefixed(apv),
                (length * 8).to_bytes(4, "big"),
            )
        )
        return other_info, length

    def _derive(self, z: bytes, enc: ContentEncryption, apu: bytes, apv: bytes) -> bytes:
        if apu or apv:
            other_info, length = self._other_info(enc, apu, apv)
        else:
            # The usual case: no party info, so OtherInfo depends on enc alone.
            cached = self._infos.get(enc.name)
            if cached is None:
                cached = self._infos[enc.name] = self._other_info(enc, b"", b"")
            other_info, length = cached
        return concat_kdf(z, length, other_info)

    def _agree(self, private: Any, public: Any) -> bytes:
        if self._okp is None:
            return bytes(private.exchange(_ECDH, public))
        return bytes(private.exchange(public))

    def _ephemeral(self) -> tuple[Any, str, str | None]:
        """A new ephemeral private key and its public ``x`` (and ``y``) as base64url.

        The coordinates come straight from the encoded public point (fixed
        length, big-endian, as RFC 7518 §6.2.1 wants): no JWK export.
        """
        if self._okp is None:
            assert self._curve is not None
            ephemeral: Any = ec.generate_private_key(self._curve)
            point = ephemeral.public_key().public_bytes(_X962, _UNCOMPRESSED)
            size = self._size
            encode = _b64.encode_str
            return ephemeral, encode(point[1 : 1 + size]), encode(point[1 + size :])
        ephemeral = self._okp[0].generate()
        return ephemeral, _b64.encode_str(ephemeral.public_key().public_bytes_raw()), None

    def _seal(
        self, enc: ContentEncryption, ephemeral: Any, apu: bytes, apv: bytes
    ) -> tuple[ContentCipher, bytes]:
        derived = self._derive(self._agree(ephemeral, self._public), enc, apu, apv)
        if not self._kek_size:
            return enc.prepare(derived), b""
        cek = os.urandom(enc.cek_size)
        return enc.prepare(cek), aes_key_wrap(derived, cek)

    def seal_epk(self, enc: ContentEncryption) -> tuple[ContentCipher, bytes, str]:
        """:meth:`seal_cipher` without caller parameters; the ``epk`` comes as JSON text.

        The text is exactly what ``_json.dumps`` makes of the ``epk`` member
        dict (``crv``, ``kty``, ``x``[, ``y``], compact): names and values
        are fixed ASCII or base64url, so nothing needs escaping.
        """
        ephemeral, x, y = self._ephemeral()
        cipher, encrypted_key = self._seal(enc, ephemeral, b"", b"")
        if y is None:
            return cipher, encrypted_key, f'{self._epk_head}{x}"}}'
        return cipher, encrypted_key, f'{self._epk_head}{x}","y":"{y}"}}'

    def seal_cipher(
        self, enc: ContentEncryption, params: MutableMapping[str, Any]
    ) -> tuple[ContentCipher, bytes]:
        apu, apv = _party_info(params, "apu"), _party_info(params, "apv")
        ephemeral, x, y = self._ephemeral()
        sealed = self._seal(enc, ephemeral, apu, apv)
        kty = "OKP" if y is None else "EC"
        epk = {"crv": self._crv, "kty": kty, "x": x}
        if y is not None:
            epk["y"] = y
        params["epk"] = epk
        return sealed

    def open_cipher(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes, max_p2c: int
    ) -> ContentCipher:
        return enc.prepare(self.open_cek(enc, header, encrypted_key))

    def open_cek(
        self, enc: ContentEncryption, header: Mapping[str, Any], encrypted_key: bytes
    ) -> bytes:
        """The CEK of a received message, or the one DecryptionError.

        :meth:`open_cipher` without binding a cipher: the decrypt core's
        ECDH-ES path opens the content with it directly.
        """
        if self._kek_size:
            if len(encrypted_key) != enc.cek_size + 8:
                fail()
        elif encrypted_key:
            fail()
        peer = self._ephemeral_key(header.get("epk"))
        apu = b64_param(header, "apu") if "apu" in header else b""
        apv = b64_param(header, "apv") if "apv" in header else b""
        try:
            z = self._agree(self._private, peer)
        except ValueError:
            fail()  # X25519/X448 low-order points give an all-zero secret
        derived = self._derive(z, enc, apu, apv)
        if not self._kek_size:
            return derived
        return unwrap(derived, enc, encrypted_key)

    def _ephemeral_key(self, epk: object) -> Any:
        """The sender's ephemeral public key: our key type and curve, and on that curve."""
        if not isinstance(epk, dict) or "d" in epk or epk.get("crv") != self._crv:
            fail()
        try:
            raw_x = _coordinate(epk, "x", self._size)
            if self._okp is not None:
                if epk.get("kty") != "OKP":
                    fail()
                return self._okp[1].from_public_bytes(raw_x)
            if epk.get("kty") != "EC":
                fail()
            raw_y = _coordinate(epk, "y", self._size)
            # from_encoded_point refuses points off the curve and coordinates
            # not reduced modulo p: invalid-curve attacks stop here.
            assert self._curve is not None
            return _from_encoded_point(self._curve, b"\x04" + raw_x + raw_y)
        except (JoseError, ValueError):
            fail()


def _coordinate(epk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = epk.get(name)
    if not isinstance(value, str):
        fail()
    # Strict base64url; a non-ASCII str fails its encode (a ValueError).
    raw = decode_ascii(value.encode("ascii"))
    if len(raw) != size:
        fail()
    return raw


def _party_info(params: MutableMapping[str, Any], name: str) -> bytes:
    """The caller's ``apu``/``apv`` (base64url, as they will appear in the header)."""
    value = params.get(name)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise InvalidKeyError(f"header {name!r} must be a base64url string")
    return _b64.decode(value, what=f"header {name!r}", error=InvalidKeyError)
