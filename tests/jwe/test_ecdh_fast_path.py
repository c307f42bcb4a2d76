"""The ECDH-ES encrypt/decrypt fast paths give the same bytes and checks as the general ones.

Without caller headers, ``jwe.encrypt`` writes an ECDH header as a cached
JSON prefix plus the ephemeral key's text, and the Concat KDF reuses its
OtherInfo per ``enc``; ``jwe.decrypt`` hands out the (never cached) ECDH header
itself instead of a copy. These tests pin that none of it changes a byte or a
check.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from jotgate import _json, jwe, jwk
from jotgate.errors import DecryptionError

from .conftest import AGREEMENT_CURVES, b64u, unb64u

ALGS = ("ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW")


@pytest.mark.parametrize("crv", AGREEMENT_CURVES)
@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("kid", [None, "k1", 'quote"and\\back-slash', "ünï"])
def test_header_bytes_are_what_json_dumps_writes(
    agreement_keys: dict[str, jwk.Key], crv: str, alg: str, kid: str | None
) -> None:
    private = agreement_keys[crv]
    if kid is not None:
        private = jwk.Key.from_key_object(private._private, kid=kid)
    public = private.public_key()
    token = jwe.encrypt(b"hello", public, alg, "A256GCM")
    segment = token.split(".")[0]
    header = json.loads(unb64u(segment))
    assert unb64u(segment) == _json.dumps(header)
    if kid is not None:
        assert public.kid == kid
    expected = {"alg": alg, "enc": "A256GCM"}
    if public.kid is not None:
        expected["kid"] = public.kid
    assert list(header) == [*expected, "epk"]
    assert {k: header[k] for k in expected} == expected
    epk = header["epk"]
    assert epk["crv"] == crv
    assert epk["kty"] == ("OKP" if crv in ("X25519", "X448") else "EC")
    assert list(epk) == (["crv", "kty", "x"] if epk["kty"] == "OKP" else ["crv", "kty", "x", "y"])
    # The epk is a real public key on the curve: importing it must work.
    jwk.Key.from_jwk(epk)
    decrypted = jwe.decrypt(token, private, algorithms=[alg], encryptions=["A256GCM"])
    assert decrypted.plaintext == b"hello"
    assert decrypted.header == header


@pytest.mark.parametrize("crv", ["P-256", "P-521", "X25519"])
def test_ephemeral_coordinates_match_the_public_numbers(
    agreement_keys: dict[str, jwk.Key], crv: str
) -> None:
    public = agreement_keys[crv].public_key()
    for _ in range(20):  # leading zero bytes must be kept (fixed length)
        epk = json.loads(unb64u(jwe.encrypt(b"x", public, "ECDH-ES", "A128GCM").split(".")[0]))[
            "epk"
        ]
        imported = jwk.Key.from_jwk(epk)._public
        if isinstance(imported, ec.EllipticCurvePublicKey):
            numbers = imported.public_numbers()
            size = (imported.curve.key_size + 7) // 8
            assert epk["x"] == b64u(numbers.x.to_bytes(size, "big"))
            assert epk["y"] == b64u(numbers.y.to_bytes(size, "big"))
        else:
            assert isinstance(imported, x25519.X25519PublicKey | x448.X448PublicKey)
            assert epk["x"] == b64u(imported.public_bytes_raw())


def test_kdf_with_and_without_party_info(agreement_keys: dict[str, jwk.Key]) -> None:
    private = agreement_keys["P-256"]
    public = private.public_key()
    for headers in (None, {"apu": b64u(b"Alice"), "apv": b64u(b"Bob")}, {"apu": b64u(b"A")}):
        for alg in ALGS:
            for enc in ("A128GCM", "A256CBC-HS512"):
                token = jwe.encrypt(b"msg", public, alg, enc, headers)
                out = jwe.decrypt(token, private, algorithms=[alg], encryptions=[enc])
                assert out.plaintext == b"msg"


def test_concat_kdf_other_info_matches_rfc7518_appendix_c() -> None:
    # RFC 7518 Appendix C: ECDH-ES, A128GCM, apu "Alice", apv "Bob".
    from jotgate._jwe_agree import Ecdh
    from jotgate._jwe_content import ENCRYPTIONS

    z = bytes(
        [158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110,
         163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196]
    )  # fmt: skip
    private = ec.generate_private_key(ec.SECP256R1())
    manager = Ecdh("ECDH-ES", 0, "P-256", private.public_key(), private)
    derived = manager._derive(z, ENCRYPTIONS["A128GCM"], b"Alice", b"Bob")
    assert b64u(derived) == "VqqN6vgjbSBcIijNcacQGg"
    # Without party info, the cached OtherInfo gives what a fresh one gives.
    for enc in ("A128GCM", "A256GCM", "A256CBC-HS512"):
        row = ENCRYPTIONS[enc]
        for _ in range(2):
            got = manager._derive(z, row, b"", b"")
            info = b"".join(
                (
                    len(enc).to_bytes(4, "big") + enc.encode(),
                    bytes(8),
                    (row.cek_size * 8).to_bytes(4, "big"),
                )
            )
            assert got == ConcatKDFHash(hashes.SHA256(), row.cek_size, info).derive(z)


def test_decrypted_header_is_the_callers_own(agreement_keys: dict[str, jwk.Key]) -> None:
    private = agreement_keys["P-256"]
    token = jwe.encrypt(b"x", private.public_key(), "ECDH-ES+A256KW", "A256GCM")
    first = jwe.decrypt(token, private, algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"])
    first.header["epk"]["x"] = "changed"
    first.header["alg"] = "changed"
    again = jwe.decrypt(token, private, algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"])
    assert again.header["alg"] == "ECDH-ES+A256KW"
    assert again.header["epk"]["x"] != "changed"
    assert again.header is not first.header


def test_static_headers_are_still_copied() -> None:
    key = jwk.Key.from_secret(bytes(32), alg="A256KW")
    token = jwe.encrypt(b"x", key, "A256KW", "A256GCM")
    first = jwe.decrypt(token, key, algorithms=["A256KW"], encryptions=["A256GCM"])
    first.header["alg"] = "changed"
    again = jwe.decrypt(token, key, algorithms=["A256KW"], encryptions=["A256GCM"])
    assert again.header["alg"] == "A256KW"


def test_epk_off_curve_still_refused(agreement_keys: dict[str, jwk.Key]) -> None:
    private = agreement_keys["P-256"]
    token = jwe.encrypt(b"x", private.public_key(), "ECDH-ES+A256KW", "A256GCM")
    head, *rest = token.split(".")
    header = json.loads(unb64u(head))
    y = bytearray(unb64u(header["epk"]["y"]))
    y[-1] ^= 1
    header["epk"]["y"] = b64u(bytes(y))
    forged = ".".join([b64u(json.dumps(header).encode()), *rest])
    with pytest.raises(DecryptionError):
        jwe.decrypt(forged, private, algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"])
