"""Attacks on the decrypter: each must end in the one DecryptionError, and nothing else.

Tampering (ciphertext, tag, IV, encrypted key, the protected header that is
the AAD), truncation, JWS/JWE confusion, decompression bombs, PBES2 iteration
bombs, invalid-curve and low-order ephemeral keys, and keys of the wrong kind.
A lax implementation fails some of these with a crash (a ``ValueError`` from
the crypto library: a 500) or with an error that names the failing step (an
oracle); jotgate answers every one the same way.
"""

from __future__ import annotations

import json
import zlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from jotgate import errors, jwe, jws, jwt

from .conftest import FAST_P2C, b64u, header_of, raw_secret, secret_key, unb64u
from .forge import ecdh_es_token, private_scalar_member, seal_dir, seal_gcm

DECRYPTION_FAILED = "the JWE could not be decrypted"
SAMPLE = b'{"sub":"42","scope":"admin"}'


def assert_refused(token, key, algorithms, encryptions, **options) -> None:
    """The token is refused with exactly the one uniform error."""
    with pytest.raises(errors.DecryptionError) as caught:
        jwe.decrypt(token, key, algorithms=algorithms, encryptions=encryptions, **options)
    assert type(caught.value) is errors.DecryptionError
    assert str(caught.value) == DECRYPTION_FAILED
    assert caught.value.__cause__ is None
    assert caught.value.code == "decryption_failed"


def flip(part: str, index: int = 0) -> str:
    """The base64url part with one bit of its decoded bytes flipped."""
    raw = bytearray(unb64u(part))
    raw[index] ^= 0x01
    return b64u(bytes(raw))


@pytest.fixture(scope="module")
def cases(rsa_key, agreement_keys, password):
    """(name, token, decrypting key, alg, enc) for a representative set."""
    made = []
    for alg, enc, key in (
        ("dir", "A256GCM", secret_key(32, "dir")),
        ("dir", "A128CBC-HS256", secret_key(32, "dir")),
        ("A128KW", "A128CBC-HS256", secret_key(16, "A128KW")),
        ("A256GCMKW", "A256GCM", secret_key(32, "A256GCMKW")),
        ("RSA-OAEP-256", "A256GCM", rsa_key),
        ("ECDH-ES+A256KW", "A256GCM", agreement_keys["P-256"]),
        ("ECDH-ES", "A256CBC-HS512", agreement_keys["X25519"]),
        ("PBES2-HS256+A128KW", "A128GCM", password),
    ):
        extras = {"p2c": FAST_P2C} if alg.startswith("PBES2") else None
        recipient = key if key.is_symmetric else key.public_key()
        made.append((alg, enc, key, jwe.encrypt(SAMPLE, recipient, alg, enc, extras)))
    return made


@pytest.mark.parametrize("part", [0, 1, 2, 3, 4], ids=["header", "key", "iv", "ciphertext", "tag"])
def test_tampering_with_any_part_is_refused(cases, part) -> None:
    for alg, enc, key, token in cases:
        parts = token.split(".")
        assert jwe.decrypt(token, key, algorithms=[alg], encryptions=[enc]).plaintext == SAMPLE
        if part == 1 and not parts[1]:
            parts[1] = b64u(b"\x00" * 40)  # an encrypted key where none belongs
        elif part == 0:
            # A header that still parses, names the same algorithms, differs by one member.
            parts[0] = b64u(json.dumps({**header_of(token), "typ": "x"}).encode())
        else:
            parts[part] = flip(parts[part], len(unb64u(parts[part])) // 2)
        assert_refused(".".join(parts), key, [alg], [enc])


def test_truncated_and_extended_parts_are_refused(cases) -> None:
    for alg, enc, key, token in cases:
        parts = token.split(".")
        for index in range(1, 5):
            raw = unb64u(parts[index])
            for changed in (raw[:-1], raw + b"\x00", b""):
                if changed == raw:
                    continue
                attempt = list(parts)
                attempt[index] = b64u(changed)
                assert_refused(".".join(attempt), key, [alg], [enc])
        for broken in (token[:-1], token + "A", token.rsplit(".", 1)[0], token + ".", "." + token):
            assert_refused(broken, key, [alg], [enc])


def test_a_jws_is_not_a_jwe_and_a_jwe_is_not_a_jws(cases) -> None:
    alg, enc, key, token = cases[0]
    signed = jws.sign(SAMPLE, secret_key(32, "HS256"))
    assert_refused(signed, key, [alg], [enc])
    # Two extra dots do not make a JWS into a JWE either.
    assert_refused(signed + "..", key, [alg], [enc])
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, key, algorithms=["HS256"])


def test_decrypting_to_a_nested_jwt_refuses_a_token_that_is_only_signed(rsa_key) -> None:
    signing = secret_key(32, "HS256")
    signed = jwt.encode({"sub": "42"}, signing)
    with pytest.raises(errors.DecryptionError):
        jwt.decode(
            signed,
            signing,
            algorithms=["HS256"],
            decrypt_with=rsa_key,
            decrypt_algorithms=["RSA-OAEP-256"],
            encryptions=["A256GCM"],
        )


def test_rsa_oaep_failures_look_like_a_bad_tag(rsa_key, other_rsa_key) -> None:
    token = jwe.encrypt(SAMPLE, rsa_key.public_key(), "RSA-OAEP", "A128GCM")
    parts = token.split(".")
    garbage = list(parts)
    garbage[1] = b64u(bytes(256))  # right size, not an OAEP block
    short = list(parts)
    short[1] = b64u(bytes(255))
    for attempt in (".".join(garbage), ".".join(short)):
        assert_refused(attempt, rsa_key, ["RSA-OAEP"], ["A128GCM"])
    assert_refused(token, other_rsa_key, ["RSA-OAEP"], ["A128GCM"])


# -- compression ---------------------------------------------------------------


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def test_a_decompression_bomb_is_refused() -> None:
    key = secret_key(16, "dir")
    bomb = _deflate(bytes(50 * 1024 * 1024))  # 50 MiB of zeros in about 50 KiB
    assert len(bomb) < 64 * 1024
    token = seal_dir(
        {"alg": "dir", "enc": "A128GCM", "zip": "DEF"},
        key.to_jwk(True) and unb64u(key.to_jwk(True)["k"]),
        bomb,
    )
    assert_refused(token, key, ["dir"], ["A128GCM"], allow_zip=True)


def test_the_inflated_size_cap_is_exact() -> None:
    key = secret_key(16, "dir")
    raw_key = raw_secret(key)
    header = {"alg": "dir", "enc": "A128GCM", "zip": "DEF"}
    at_cap = seal_dir(header, raw_key, _deflate(bytes(jwe.MAX_DECOMPRESSED_LENGTH)))
    over = seal_dir(header, raw_key, _deflate(bytes(jwe.MAX_DECOMPRESSED_LENGTH + 1)))
    decrypted = jwe.decrypt(
        at_cap, key, algorithms=["dir"], encryptions=["A128GCM"], allow_zip=True
    )
    assert len(decrypted.plaintext) == jwe.MAX_DECOMPRESSED_LENGTH
    assert_refused(over, key, ["dir"], ["A128GCM"], allow_zip=True)


@pytest.mark.parametrize(
    "payload",
    [_deflate(b"hello")[:-1], _deflate(b"hello") + b"trailing", b"not deflate at all \xff\xfe"],
    ids=["truncated", "trailing-data", "garbage"],
)
def test_broken_deflate_streams_are_refused(payload) -> None:
    key = secret_key(16, "dir")
    raw_key = raw_secret(key)
    token = seal_dir({"alg": "dir", "enc": "A128GCM", "zip": "DEF"}, raw_key, payload)
    assert_refused(token, key, ["dir"], ["A128GCM"], allow_zip=True)


# -- PBES2 ---------------------------------------------------------------------


def _with_header(token: str, **changes) -> str:
    parts = token.split(".")
    parts[0] = b64u(json.dumps({**header_of(token), **changes}).encode())
    return ".".join(parts)


@pytest.mark.parametrize("p2c", [10**12, jwe.MAX_PBES2_COUNT + 1, 0, -1, 1.5, "1000", True, None])
def test_pbes2_counts_outside_the_cap_are_refused_before_any_work(password, p2c) -> None:
    """A p2c of 10**12 would take days; the test finishing at all shows it was never run."""
    token = jwe.encrypt(SAMPLE, password, "PBES2-HS256+A128KW", "A128GCM", {"p2c": FAST_P2C})
    assert_refused(_with_header(token, p2c=p2c), password, ["PBES2-HS256+A128KW"], ["A128GCM"])


def test_the_pbes2_cap_is_the_callers_to_raise(password) -> None:
    token = jwe.encrypt(SAMPLE, password, "PBES2-HS256+A128KW", "A128GCM", {"p2c": 12_000})
    assert_refused(token, password, ["PBES2-HS256+A128KW"], ["A128GCM"])
    decrypted = jwe.decrypt(
        token,
        password,
        algorithms=["PBES2-HS256+A128KW"],
        encryptions=["A128GCM"],
        max_pbes2_count=12_000,
    )
    assert decrypted.plaintext == SAMPLE


def test_a_short_pbes2_salt_is_refused(password) -> None:
    token = jwe.encrypt(SAMPLE, password, "PBES2-HS256+A128KW", "A128GCM", {"p2c": FAST_P2C})
    assert_refused(
        _with_header(token, p2s=b64u(b"1234567")), password, ["PBES2-HS256+A128KW"], ["A128GCM"]
    )


# -- ECDH ephemeral keys ---------------------------------------------------------


def _p256(agreement_keys):
    """The P-256 key, and its public half as the cryptography object an attacker would use."""
    key = agreement_keys["P-256"]
    return key, serialization.load_pem_public_key(key.public_key().to_pem())


def test_an_epk_off_the_curve_is_refused(agreement_keys) -> None:
    key = agreement_keys["P-256"]
    token = jwe.encrypt(SAMPLE, key.public_key(), "ECDH-ES", "A128GCM")
    epk = header_of(token)["epk"]
    y = int.from_bytes(unb64u(epk["y"]), "big")
    off_curve = {**epk, "y": b64u(((y + 1) % 2**256).to_bytes(32, "big"))}
    assert_refused(_with_header(token, epk=off_curve), key, ["ECDH-ES"], ["A128GCM"])


def test_an_epk_on_another_curve_is_refused(agreement_keys) -> None:
    key = agreement_keys["P-256"]
    other = agreement_keys["P-384"].public_key().to_jwk()
    token = jwe.encrypt(SAMPLE, key.public_key(), "ECDH-ES", "A128GCM")
    on_p384 = {name: other[name] for name in ("kty", "crv", "x", "y")}
    relabelled = {**on_p384, "crv": "P-256"}  # P-384 coordinates claimed to be P-256
    x25519 = {
        name: agreement_keys["X25519"].public_key().to_jwk()[name] for name in ("kty", "crv", "x")
    }
    for epk in (on_p384, relabelled, x25519):
        assert_refused(_with_header(token, epk=epk), key, ["ECDH-ES"], ["A128GCM"])


@pytest.mark.parametrize("point", [bytes(32), b"\x01" + bytes(31)], ids=["zero", "one"])
def test_low_order_x25519_points_are_refused(agreement_keys, point) -> None:
    key = agreement_keys["X25519"]
    token = jwe.encrypt(SAMPLE, key.public_key(), "ECDH-ES", "A128GCM")
    epk = {"kty": "OKP", "crv": "X25519", "x": b64u(point)}
    assert_refused(_with_header(token, epk=epk), key, ["ECDH-ES"], ["A128GCM"])


def test_a_forged_but_valid_token_with_a_private_epk_is_refused(agreement_keys) -> None:
    """The tag verifies here; only the refusal of a private ``d`` in epk stops it."""
    key, public = _p256(agreement_keys)
    clean = ecdh_es_token(public, {}, SAMPLE)
    assert (
        jwe.decrypt(clean, key, algorithms=["ECDH-ES"], encryptions=["A128GCM"]).plaintext == SAMPLE
    )
    leaked = ecdh_es_token(
        public, {"d": private_scalar_member(ec.generate_private_key(ec.SECP256R1()))}, SAMPLE
    )
    assert_refused(leaked, key, ["ECDH-ES"], ["A128GCM"])
    mislabelled = ecdh_es_token(public, {"kty": "OKP"}, SAMPLE)
    assert_refused(mislabelled, key, ["ECDH-ES"], ["A128GCM"])


def test_missing_or_malformed_epk_is_refused(agreement_keys) -> None:
    key = agreement_keys["P-256"]
    token = jwe.encrypt(SAMPLE, key.public_key(), "ECDH-ES", "A128GCM")
    for epk in (
        None,
        "epk",
        [],
        {"kty": "EC", "crv": "P-256"},
        {"kty": "EC", "crv": "P-256", "x": 1, "y": 2},
    ):
        assert_refused(_with_header(token, epk=epk), key, ["ECDH-ES"], ["A128GCM"])


# -- everything at once ----------------------------------------------------------


def test_hand_sealed_dir_tokens_decrypt_when_nothing_is_wrong() -> None:
    """The forging helper itself makes tokens jotgate accepts (so refusals above mean something)."""
    key = secret_key(16, "dir")
    raw_key = raw_secret(key)
    token = seal_gcm(b64u(b'{"alg":"dir","enc":"A128GCM"}'), raw_key, SAMPLE)
    assert jwe.decrypt(token, key, algorithms=["dir"], encryptions=["A128GCM"]).plaintext == SAMPLE
