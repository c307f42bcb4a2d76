"""The JWS algorithm table (RFC 7518 §3, RFC 8037, RFC 8812, RFC 9864), as data.

Each supported ``alg`` is one :class:`Algorithm` row saying which key type and
curves it takes, which hash, and how big a signature is. Signing and
verifying go through ``cryptography`` only; this module just wires the row to
the right primitive and prepares per-key callables that the key objects cache,
so the hot verify path does no lookups or object construction it can avoid.

``none`` is not in the table in any spelling, so nothing can ever verify it.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .errors import InvalidKeyError, UnsupportedAlgorithmError

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "Signer",
    "Verifier",
    "get",
]

PublicKey: TypeAlias = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
#: ``verifier(signing_input, signature) -> bool``
Verifier: TypeAlias = Callable[[bytes, bytes], bool]
#: ``signer(signing_input) -> signature``
Signer: TypeAlias = Callable[[bytes], bytes]

_HASHES: Final[dict[int, Callable[[], hashes.HashAlgorithm]]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    512: hashes.SHA512,
}

# JWK curve name -> (cryptography curve class, bytes per coordinate, group order).
EC_CURVES: Final[dict[str, tuple[Callable[[], ec.EllipticCurve], int, int]]] = {
    "P-256": (
        ec.SECP256R1,
        32,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    "P-384": (
        ec.SECP384R1,
        48,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    ),
    "P-521": (
        ec.SECP521R1,
        66,
        0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
    ),
    "secp256k1": (
        ec.SECP256K1,
        32,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    ),
}
# A mistyped order silently disables the r/s range check: pin the sizes.
assert all(
    order.bit_length() == {32: 256, 48: 384, 66: 521}[size] for _, size, order in EC_CURVES.values()
)

#: cryptography curve ``name`` -> JWK ``crv``
EC_CURVE_BY_NAME: Final[dict[str, str]] = {
    make().name: crv for crv, (make, _, _) in EC_CURVES.items()
}

OKP_SIGNATURE_CURVES: Final = frozenset({"Ed25519", "Ed448"})


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One row of the table: what an ``alg`` needs and how to run it."""

    name: str
    #: JWK ``kty`` the key must have: "oct", "RSA", "EC" or "OKP".
    kty: str
    #: Hash size in bits (None for EdDSA, which hashes internally).
    bits: int | None
    #: Curves a key may be on (EC and OKP only).
    curves: frozenset[str] = frozenset()
    #: "pkcs1" or "pss" for RSA rows.
    rsa_padding: str | None = None

    @property
    def min_secret_bytes(self) -> int:
        """HMAC secrets must be at least as long as the hash (RFC 7518 §3.2)."""
        return (self.bits or 0) // 8

    def fits(self, kty: str, crv: str | None) -> bool:
        """True when a key of this type (and curve) can be used with this algorithm."""
        return kty == self.kty and (not self.curves or crv in self.curves)

    # -- preparing callables -------------------------------------------------

    def hmac_verifier(self, secret: bytes) -> Verifier:
        """A verifier over a pre-keyed HMAC context (copied per call: no re-keying)."""
        keyed = self._keyed_hmac(secret)
        compare = _stdlib_hmac.compare_digest

        def verify(signing_input: bytes, signature: bytes) -> bool:
            ctx = keyed.copy()
            ctx.update(signing_input)
            return compare(ctx.finalize(), signature)

        return verify

    def hmac_signer(self, secret: bytes) -> Signer:
        """A signer over a pre-keyed HMAC context."""
        keyed = self._keyed_hmac(secret)

        def sign(signing_input: bytes) -> bytes:
            ctx = keyed.copy()
            ctx.update(signing_input)
            return ctx.finalize()

        return sign

    def _keyed_hmac(self, secret: bytes) -> hmac.HMAC:
        if len(secret) < self.min_secret_bytes:
            raise InvalidKeyError(
                f"{self.name} needs a secret of at least {self.min_secret_bytes} bytes"
            )
        assert self.bits is not None
        return hmac.HMAC(secret, _HASHES[self.bits]())

    def public_verifier(self, public: PublicKey) -> Verifier:
        """A verifier for an asymmetric public key (already checked to fit)."""
        if self.kty == "RSA":
            assert isinstance(public, rsa.RSAPublicKey)
            return _rsa_verifier(public, self._rsa_padding(), self._hash())
        if self.kty == "EC":
            assert isinstance(public, ec.EllipticCurvePublicKey)
            return _ec_verifier(public, self._hash())
        assert isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
        return _eddsa_verifier(public)

    def private_signer(self, private: PrivateKey) -> Signer:
        """A signer for an asymmetric private key (already checked to fit)."""
        if self.kty == "RSA":
            assert isinstance(private, rsa.RSAPrivateKey)
            rsa_key, pad, digest = private, self._rsa_padding(), self._hash()
            return lambda data: rsa_key.sign(data, pad, digest)
        if self.kty == "EC":
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            return _ec_signer(private, self._hash())
        assert isinstance(private, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        return private.sign

    def _hash(self) -> hashes.HashAlgorithm:
        assert self.bits is not None
        return _HASHES[self.bits]()

    def _rsa_padding(self) -> padding.AsymmetricPadding:
        if self.rsa_padding == "pss":
            # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
            return padding.PSS(mgf=padding.MGF1(self._hash()), salt_length=(self.bits or 0) // 8)
        return padding.PKCS1v15()


def _rsa_verifier(
    public: rsa.RSAPublicKey, pad: padding.AsymmetricPadding, digest: hashes.HashAlgorithm
) -> Verifier:
    size = (public.key_size + 7) // 8
    verify = public.verify

    def run(signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            verify(signature, signing_input, pad, digest)
        except InvalidSignature:
            return False
        return True

    return run


def _ec_verifier(public: ec.EllipticCurvePublicKey, digest: hashes.HashAlgorithm) -> Verifier:
    crv = EC_CURVE_BY_NAME[public.curve.name]
    _, size, order = EC_CURVES[crv]
    scheme = ec.ECDSA(digest)
    verify = public.verify
    from_bytes = int.from_bytes

    def run(signing_input: bytes, signature: bytes) -> bool:
        # RFC 7518 §3.4: exactly R || S, each the curve's size. r and s must
        # be in [1, n-1]: r = s = 0 is the "psychic signature" (CVE-2022-21449).
        if len(signature) != 2 * size:
            return False
        r = from_bytes(signature[:size], "big")
        s = from_bytes(signature[size:], "big")
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            verify(encode_dss_signature(r, s), signing_input, scheme)
        except InvalidSignature:
            return False
        return True

    return run


def _ec_signer(private: ec.EllipticCurvePrivateKey, digest: hashes.HashAlgorithm) -> Signer:
    crv = EC_CURVE_BY_NAME[private.curve.name]
    size = EC_CURVES[crv][1]
    scheme = ec.ECDSA(digest)
    sign = private.sign

    def run(signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(sign(signing_input, scheme))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return run


def _eddsa_verifier(public: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey) -> Verifier:
    size = 64 if isinstance(public, ed25519.Ed25519PublicKey) else 114
    verify = public.verify

    def run(signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True

    return run


def _table() -> dict[str, Algorithm]:
    rows: list[Algorithm] = []
    for bits in (256, 384, 512):
        rows.append(Algorithm(f"HS{bits}", "oct", bits))
        rows.append(Algorithm(f"RS{bits}", "RSA", bits, rsa_padding="pkcs1"))
        rows.append(Algorithm(f"PS{bits}", "RSA", bits, rsa_padding="pss"))
    rows.append(Algorithm("ES256", "EC", 256, frozenset({"P-256"})))
    rows.append(Algorithm("ES384", "EC", 384, frozenset({"P-384"})))
    rows.append(Algorithm("ES512", "EC", 512, frozenset({"P-521"})))
    rows.append(Algorithm("ES256K", "EC", 256, frozenset({"secp256k1"})))
    rows.append(Algorithm("EdDSA", "OKP", None, OKP_SIGNATURE_CURVES))
    # Fully-specified EdDSA names (RFC 9864): the name fixes the curve.
    rows.append(Algorithm("Ed25519", "OKP", None, frozenset({"Ed25519"})))
    rows.append(Algorithm("Ed448", "OKP", None, frozenset({"Ed448"})))
    return {row.name: row for row in rows}


#: Every supported JWS algorithm, by name.
ALGORITHMS: Final[dict[str, Algorithm]] = _table()


def get(name: object) -> Algorithm:
    """Look an algorithm up by its exact, case-sensitive name."""
    row = ALGORITHMS.get(name) if isinstance(name, str) else None
    if row is None:
        shown = name if isinstance(name, str) and len(name) <= 32 else "(invalid)"
        if isinstance(name, str) and name.lower() == "none":
            raise UnsupportedAlgorithmError("the 'none' algorithm is never accepted")
        raise UnsupportedAlgorithmError(f"unsupported algorithm {shown!r}")
    return row
