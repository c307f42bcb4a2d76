"""Weak or wrong key material is refused when it is imported (or first used)."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jotgate import errors, jwk, jws

from .conftest import Pair
from .forge import b64, forge, unb64
from .roca import looks_roca, roca_primes

Enc = serialization.Encoding
Pub = serialization.PublicFormat


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _rsa_public_der(n: int, e: int) -> tuple[bytes, bytes]:
    """(PKCS#1, SubjectPublicKeyInfo) DER for any n, e, built by hand."""
    pkcs1 = _der(0x30, _der_int(n) + _der_int(e))
    rsa_encryption = _der(0x06, bytes.fromhex("2a864886f70d010101"))
    algorithm = _der(0x30, rsa_encryption + b"\x05\x00")
    spki = _der(0x30, algorithm + _der(0x03, b"\x00" + pkcs1))
    return pkcs1, spki


def _pem(der: bytes, label: str) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def _uint(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _refused_everywhere(n: int, e: int) -> list[str]:
    """Import n, e through every door; return the doors that accepted it."""
    pkcs1, spki = _rsa_public_der(n, e)
    doors: dict[str, Any] = {
        "jwk": lambda: jwk.Key.from_jwk({"kty": "RSA", "n": _uint(n), "e": _uint(e)}),
        "spki-der": lambda: jwk.Key.from_der(spki),
        "pkcs1-der": lambda: jwk.Key.from_der(pkcs1),
        "spki-pem": lambda: jwk.Key.from_pem(_pem(spki, "PUBLIC KEY")),
        "pkcs1-pem": lambda: jwk.Key.from_pem(_pem(pkcs1, "RSA PUBLIC KEY")),
        "load": lambda: jwk.Key.load(_pem(spki, "PUBLIC KEY")),
    }
    accepted = []
    for name, door in doors.items():
        try:
            door()
        except errors.InvalidKeyError:
            continue
        accepted.append(name)
    return accepted


# -- HMAC secrets ------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 16, 31])
def test_short_hmac_secret_is_refused(size: int) -> None:
    secret = os.urandom(size)
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_secret(secret, alg="HS256")
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk({"kty": "oct", "k": b64(secret), "alg": "HS256"})


@pytest.mark.parametrize(("alg", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_must_be_at_least_the_hash_size(alg: str, minimum: int) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_secret(os.urandom(minimum - 1), alg=alg)
    key = jwk.Key.from_secret(os.urandom(minimum), alg=alg)
    assert key.kty == "oct"
    assert key.is_symmetric


def test_hs384_with_a_32_byte_secret_is_refused_when_used() -> None:
    secret = os.urandom(32)
    key = jwk.Key.from_jwk({"kty": "oct", "k": b64(secret)})
    assert key.alg is None
    assert jws.verify(jws.sign(b"x", key, algorithm="HS256"), key, algorithms=["HS256"])
    for alg in ("HS384", "HS512"):
        with pytest.raises(errors.InvalidKeyError):
            jws.sign(b"x", key, algorithm=alg)
        token = forge(alg, secret, {"alg": alg}, b"x")
        with pytest.raises(errors.InvalidKeyError):
            jws.verify(token, key, algorithms=[alg])


LOOKALIKES = {
    "pem": b"-----BEGIN PRIVATE KEY-----\n" + b64(os.urandom(48)).encode() + b"\n",
    "pem-indented": b"   -----BEGIN CERTIFICATE-----" + os.urandom(32),
    "ssh-rsa": b"ssh-rsa " + b64(os.urandom(48)).encode(),
    "ssh-ed25519": b"ssh-ed25519 " + b64(os.urandom(48)).encode() + b" me@host",
    "ecdsa-ssh": b"ecdsa-sha2-nistp256 " + b64(os.urandom(48)).encode(),
    "jwk-oct": b'{"kty":"oct","k":"' + b64(os.urandom(32)).encode() + b'"}',
    "jwks": b'{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}',
    "jwk-spaced": b'  { "kty" : "RSA", "n": "xyz", "e": "AQAB" }  ',
    "der-sequence": b"\x30\x82\x01\x00" + os.urandom(256),
    "der-short-form": b"\x30\x2a" + os.urandom(42),
    "base64-der-body": base64.b64encode(b"\x30\x82\x01\x00" + os.urandom(256)),
    "base64-der-body-wrapped": base64.encodebytes(b"\x30\x82\x01\x00" + os.urandom(256)),
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_secret_that_looks_like_key_material_is_refused(name: str) -> None:
    secret = LOOKALIKES[name]
    assert len(secret) >= 32
    with pytest.raises(errors.InvalidKeyError) as info:
        jwk.Key.from_secret(secret, alg="HS256")
    assert secret.decode("latin-1") not in str(info.value)


# -- RSA ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def test_rsa_1024_is_refused_through_every_door(rsa_1024: rsa.RSAPrivateKey) -> None:
    numbers = rsa_1024.public_key().public_numbers()
    assert _refused_everywhere(numbers.n, numbers.e) == []
    pem = rsa_1024.private_bytes(
        Enc.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_pem(pem)
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_pem(pem, password=None, alg="RS256")


def test_generating_a_small_rsa_key_is_refused() -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.generate("RS256", size=1024)


@pytest.mark.parametrize("e", [1, 2, 4, 65536, 65538])
def test_rsa_public_exponent_one_or_even_is_refused(e: int, rsa_raw: rsa.RSAPrivateKey) -> None:
    n = rsa_raw.public_key().public_numbers().n
    assert _refused_everywhere(n, e) == []


def test_rsa_exponent_not_below_the_modulus_is_refused(rsa_raw: rsa.RSAPrivateKey) -> None:
    n = rsa_raw.public_key().public_numbers().n
    assert _refused_everywhere(n, n + 2) == []


def test_an_ordinary_rsa_key_is_accepted_through_every_door(rsa_raw: rsa.RSAPrivateKey) -> None:
    numbers = rsa_raw.public_key().public_numbers()
    assert not looks_roca(numbers.n)
    assert _refused_everywhere(numbers.n, numbers.e) == [
        "jwk",
        "spki-der",
        "pkcs1-der",
        "spki-pem",
        "pkcs1-pem",
        "load",
    ]


@pytest.fixture(scope="module")
def roca() -> tuple[int, int]:
    return roca_primes()


def test_rsa_modulus_with_the_roca_fingerprint_is_refused(roca: tuple[int, int]) -> None:
    p, q = roca
    n = p * q
    assert n.bit_length() == 2048
    assert looks_roca(n)  # the helper really built a fingerprinted modulus
    assert _refused_everywhere(n, 65537) == []
    with pytest.raises(errors.InvalidKeyError, match="ROCA"):
        jwk.Key.from_jwk({"kty": "RSA", "n": _uint(n), "e": "AQAB"})


def test_rsa_private_key_with_the_roca_fingerprint_is_refused(roca: tuple[int, int]) -> None:
    p, q = roca
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    private = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    ).private_key()
    pem = private.private_bytes(
        Enc.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(errors.InvalidKeyError, match="ROCA"):
        jwk.Key.from_pem(pem)
    members = {"kty": "RSA", "n": _uint(p * q), "e": "AQAB", "d": _uint(d)}
    with pytest.raises(errors.InvalidKeyError, match="ROCA"):
        jwk.Key.from_jwk(members)


# -- EC and OKP ----------------------------------------------------------------

FIELD_PRIMES = {
    "P-256": 2**256 - 2**224 + 2**192 + 2**96 - 1,
    "P-384": 2**384 - 2**128 - 2**96 + 2**32 - 1,
    "P-521": 2**521 - 1,
}
SIZES = {"P-256": 32, "P-384": 48, "P-521": 66}


def _ec_jwk(pair: Pair) -> dict[str, Any]:
    return dict(pair.public.to_jwk())


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "ES256K"])
def test_ec_point_not_on_the_curve_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    members = _ec_jwk(pairs[alg])
    size = len(unb64(members["y"]))
    y = int.from_bytes(unb64(members["y"]), "big")
    for bad_y in ((y + 1) % 2 ** (8 * size), 0):
        bad = dict(members, y=b64(bad_y.to_bytes(size, "big")))
        with pytest.raises(errors.InvalidKeyError):
            jwk.Key.from_jwk(bad)
    zero = b64(bytes(size))
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(dict(members, x=zero, y=zero))


@pytest.mark.parametrize("coordinate", ["x", "y"])
def test_ec_coordinate_not_reduced_modulo_the_field_prime_is_refused(
    coordinate: str, pairs: dict[str, Pair]
) -> None:
    # P-521 coordinates are 66 bytes for a 521-bit field, so c + p fits the
    # fixed width. It names the same point only for a parser that reduces
    # mod p; SEC 1 §2.3.5 requires 0 <= c < p.
    members = _ec_jwk(pairs["ES512"])
    value = int.from_bytes(unb64(members[coordinate]), "big") + FIELD_PRIMES["P-521"]
    bad = dict(members, **{coordinate: b64(value.to_bytes(66, "big"))})
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(bad)


@pytest.mark.parametrize("alg", ["ES256", "ES384"])
def test_ec_coordinate_of_the_wrong_length_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    members = _ec_jwk(pairs[alg])
    x = unb64(members["x"])
    for bad_x in (b"\x00" + x, x[1:], x + b"\x00"):
        with pytest.raises(errors.InvalidKeyError):
            jwk.Key.from_jwk(dict(members, x=b64(bad_x)))


@pytest.mark.parametrize(
    ("key_alg", "member_alg"),
    [
        ("ES384", "ES256"),
        ("ES256", "ES384"),
        ("ES256", "ES256K"),
        ("ES256K", "ES256"),
        ("ES512", "ES256"),
        ("Ed448", "Ed25519"),
        ("Ed25519", "Ed448"),
        ("EdDSA", "ES256"),
        ("ES256", "EdDSA"),
        ("RS256", "ES256"),
        ("ES256", "RS256"),
        ("ES256", "HS256"),
        ("RS256", "HS256"),
    ],
)
def test_key_whose_alg_does_not_fit_its_type_or_curve_is_refused(
    key_alg: str, member_alg: str, pairs: dict[str, Pair]
) -> None:
    pair = pairs[key_alg]
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(dict(pair.public.to_jwk(), alg=member_alg))
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_pem(pair.public.to_pem(), alg=member_alg)


def test_oct_key_with_an_asymmetric_alg_is_refused() -> None:
    for alg in ("RS256", "ES256", "EdDSA"):
        with pytest.raises(errors.InvalidKeyError):
            jwk.Key.from_secret(os.urandom(64), alg=alg)
        with pytest.raises(errors.InvalidKeyError):
            jwk.Key.from_jwk({"kty": "oct", "k": b64(os.urandom(64)), "alg": alg})


@pytest.mark.parametrize(("crv", "size"), [("Ed25519", 32), ("Ed448", 57)])
def test_okp_public_key_of_the_wrong_length_is_refused(crv: str, size: int) -> None:
    for length in (0, size - 1, size + 1, 57 if size == 32 else 32):
        with pytest.raises(errors.InvalidKeyError):
            jwk.Key.from_jwk({"kty": "OKP", "crv": crv, "x": b64(os.urandom(length))})


def test_ec_private_scalar_that_does_not_match_the_public_point_is_refused(
    pairs: dict[str, Pair],
) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    members = dict(pairs["ES256"].public.to_jwk(), d=b64(other.to_bytes(32, "big")))
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(members)


@pytest.mark.parametrize(
    "members",
    [
        {},
        {"kty": None},
        {"kty": "rsa"},
        {"kty": "RSA "},
        {"kty": ["RSA"]},
        {"kty": "EC", "crv": "P-257", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256"},
        {"kty": "RSA", "n": 12345, "e": "AQAB"},
        {"kty": "RSA", "n": "AQAB=", "e": "AQAB"},
        {"kty": "oct"},
        {"kty": "oct", "k": None},
        {"kty": "oct", "k": "a b"},
        {"kty": {"RSA": 1}},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "alg": ["HS256"]},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "alg": {"HS256": 1}},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "use": ["sig"]},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "kid": 7},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "key_ops": "sign"},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "key_ops": [1]},
        {"kty": "oct", "k": b64(b"k" * 16 + b"0123456789abcdef"), "key_ops": ["sign", "sign"]},
    ],
    ids=repr,
)
def test_malformed_jwk_is_refused_with_invalid_key_error(members: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(members)


@pytest.mark.parametrize("data", [None, 12, 1.5, [], {}, ["-----BEGIN"]], ids=repr)
def test_key_load_of_something_that_is_not_text_or_bytes_is_refused_cleanly(
    data: object,
) -> None:
    with pytest.raises((errors.InvalidKeyError, TypeError)):
        jwk.Key.load(data)  # type: ignore[arg-type]
