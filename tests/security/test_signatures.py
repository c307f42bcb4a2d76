"""Tampered signatures: psychic ECDSA, out-of-range scalars, wrong encodings.

CVE-2022-21449 ("psychic signatures") accepted r = s = 0; other libraries
accepted DER where JWS wants raw R || S, or r, s >= n. Every algorithm must
also refuse empty, truncated and extended signatures.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from jotgate import errors, jwa, jws
from jotgate.jwa import EC_CURVES

from .conftest import Pair
from .forge import signature_of, with_signature

P521_ORDER_TAIL = "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409"
# Curve order n and coordinate size for every ES alg.
CURVES = {
    "ES256": (0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551, 32),
    "ES384": (
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        48,
    ),
    # SEC 2 §2.6.1: 0x01FF, then 65 F digits in all, then ...FA5186...
    "ES512": (int("01" + "F" * 65 + P521_ORDER_TAIL, 16), 66),
    "ES256K": (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141, 32),
}
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
ALL_ALGS = sorted(jwa.ALGORITHMS)


def _token(pair: Pair) -> str:
    token = jws.sign(b'{"sub":"admin"}', pair.private, algorithm=pair.alg)
    assert jws.verify(token, pair.public, algorithms=[pair.alg]).payload == b'{"sub":"admin"}'
    return token


def _refused(token: str, pair: Pair) -> None:
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(token, pair.public, algorithms=[pair.alg])


def test_every_table_algorithm_is_covered(pairs: dict[str, Pair]) -> None:
    assert set(pairs) == set(jwa.ALGORITHMS)


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_empty_truncated_extended_and_zero_signatures_are_refused(
    alg: str, pairs: dict[str, Pair]
) -> None:
    pair = pairs[alg]
    token = _token(pair)
    good = signature_of(token)
    for bad in (
        b"",
        b"\x00",
        good[:-1],
        good[1:],
        good[: len(good) // 2],
        good + b"\x00",
        b"\x00" + good,
        good + good,
        bytes(len(good)),
        b"\xff" * len(good),
        good[:-1] + bytes([good[-1] ^ 1]),
        bytes([good[0] ^ 0x80]) + good[1:],
    ):
        _refused(with_signature(token, bad), pair)
    # Dropping the signature segment entirely, or its dot, is malformed.
    head, payload, _ = token.split(".")
    with pytest.raises(errors.JoseError):
        jws.verify(f"{head}.{payload}", pair.public, algorithms=[alg])


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_psychic_ecdsa_signature_r_equals_s_equals_zero_is_refused(
    alg: str, pairs: dict[str, Pair]
) -> None:
    pair = pairs[alg]
    token = _token(pair)
    _, size = CURVES[alg]
    _refused(with_signature(token, bytes(2 * size)), pair)
    good = signature_of(token)
    r, s = good[:size], good[size:]
    _refused(with_signature(token, bytes(size) + s), pair)
    _refused(with_signature(token, r + bytes(size)), pair)


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_ecdsa_scalars_at_or_above_the_group_order_are_refused(
    alg: str, pairs: dict[str, Pair]
) -> None:
    pair = pairs[alg]
    token = _token(pair)
    order, size = CURVES[alg]
    good = signature_of(token)
    r = int.from_bytes(good[:size], "big")
    s = int.from_bytes(good[size:], "big")
    top = 2 ** (8 * size) - 1
    candidates = [(order, s), (r, order), (order, order), (top, s), (r, top), (top, top)]
    # r + n and s + n are the same scalars mod n: they must not verify either.
    for rr, ss in ((r + order, s), (r, s + order), (r + order, s + order)):
        if max(rr, ss) <= top:
            candidates.append((rr, ss))
    for rr, ss in candidates:
        forged = rr.to_bytes(size, "big") + ss.to_bytes(size, "big")
        _refused(with_signature(token, forged), pair)


def test_p521_reduced_scalar_plus_order_fits_and_is_refused(pairs: dict[str, Pair]) -> None:
    # P-521 scalars get 66 bytes (528 bits) for a 521-bit order, so s + n
    # always fits the fixed-width encoding: a verifier that reduced mod n
    # would accept it.
    pair = pairs["ES512"]
    token = _token(pair)
    order, size = CURVES["ES512"]
    good = signature_of(token)
    s = int.from_bytes(good[size:], "big")
    forged = good[:size] + (s + order).to_bytes(size, "big")
    _refused(with_signature(token, forged), pair)


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_der_encoded_ecdsa_signature_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    pair = pairs[alg]
    token = _token(pair)
    _, size = CURVES[alg]
    good = signature_of(token)
    der = encode_dss_signature(
        int.from_bytes(good[:size], "big"), int.from_bytes(good[size:], "big")
    )
    _refused(with_signature(token, der), pair)
    # A DER signature computed by the library itself over the same input.
    signing_input = token.rsplit(".", 1)[0].encode()
    digest = {"ES256": "SHA256", "ES384": "SHA384", "ES512": "SHA512", "ES256K": "SHA256"}
    der_fresh = pair.raw.sign(signing_input, ec.ECDSA(getattr(hashes, digest[alg])()))
    _refused(with_signature(token, der_fresh), pair)


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_ecdsa_signature_with_swapped_halves_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    pair = pairs[alg]
    token = _token(pair)
    _, size = CURVES[alg]
    good = signature_of(token)
    _refused(with_signature(token, good[size:] + good[:size]), pair)


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
def test_ed25519_signature_with_s_plus_group_order_is_refused(
    alg: str, pairs: dict[str, Pair]
) -> None:
    # Non-canonical S (S + L still fits 32 bytes): malleable if not checked.
    pair = pairs[alg]
    token = _token(pair)
    good = signature_of(token)
    s = int.from_bytes(good[32:], "little") + ED25519_ORDER
    assert s < 2**256
    _refused(with_signature(token, good[:32] + s.to_bytes(32, "little")), pair)


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_signature_plus_modulus_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    pair = pairs[alg]
    token = _token(pair)
    good = signature_of(token)
    n = pair.raw.public_key().public_numbers().n
    bigger = int.from_bytes(good, "big") + n
    size = len(good)
    if bigger < 2 ** (8 * size):
        _refused(with_signature(token, bigger.to_bytes(size, "big")), pair)
    _refused(with_signature(token, n.to_bytes(size, "big")), pair)
    _refused(with_signature(token, (1).to_bytes(size, "big")), pair)


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_signature_from_another_token_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    pair = pairs[alg]
    one = jws.sign(b'{"sub":"alice"}', pair.private, algorithm=alg)
    two = jws.sign(b'{"sub":"admin"}', pair.private, algorithm=alg)
    _refused(with_signature(two, signature_of(one)), pair)


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_our_curve_orders_are_right(alg: str, pairs: dict[str, Pair]) -> None:
    # (r, n - s) is the other valid ECDSA signature of the same message, so
    # it verifies with cryptography exactly when n is the group order.
    order, size = CURVES[alg]
    assert order.bit_length() == {"ES512": 521, "ES384": 384}.get(alg, 256)
    token = _token(pair := pairs[alg])
    good = signature_of(token)
    r, s = int.from_bytes(good[:size], "big"), int.from_bytes(good[size:], "big")
    data = token.rsplit(".", 1)[0].encode()
    digest = getattr(hashes, "SHA" + {"ES256K": "256"}.get(alg, alg[2:]))()
    pair.raw.public_key().verify(encode_dss_signature(r, order - s), data, ec.ECDSA(digest))


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_algorithm_table_uses_the_true_group_order(alg: str) -> None:
    # jwa refuses r or s >= n itself (CVE-2022-21449 defence in depth) and
    # jwk bounds private scalars by the same number: it must be n.
    crv = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}[alg]
    assert EC_CURVES[crv][2] == CURVES[alg][0]
