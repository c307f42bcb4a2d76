"""Strict headers, explicit allow-lists, and keys held to their algorithm.

The tokens refused here are otherwise valid (sealed by hand with the right
key), so each refusal is jotgate's own decision, not a failed tag.
"""

from __future__ import annotations

import secrets

import pytest

from jotgate import errors, jwe, jwk, jws

from .conftest import b64u, raw_secret, secret_key
from .forge import seal_dir, seal_gcm
from .test_attacks import SAMPLE, assert_refused

DIR = {"alg": "dir", "enc": "A128GCM"}


@pytest.fixture
def dir_key() -> jwk.Key:
    return secret_key(16, "dir")


def test_a_hand_sealed_token_with_a_plain_header_decrypts(dir_key) -> None:
    token = seal_dir(DIR, raw_secret(dir_key), SAMPLE)
    assert (
        jwe.decrypt(token, dir_key, algorithms=["dir"], encryptions=["A128GCM"]).plaintext == SAMPLE
    )


@pytest.mark.parametrize(
    "header",
    [
        {**DIR, "crit": ["exp"], "exp": 1},  # an extension we do not understand
        {**DIR, "crit": []},
        {**DIR, "crit": "exp"},
        {**DIR, "zip": "GZIP"},
        {**DIR, "kid": 7},
        {**DIR, "cty": ["JWT"]},
        {**DIR, "epk": {"kty": "EC"}},  # another algorithm's parameter
        {**DIR, "p2c": 1000},
        {**DIR, "iv": "AAAA"},
        {"alg": "dir"},
        {"enc": "A128GCM"},
        {"alg": ["dir"], "enc": "A128GCM"},
        {"alg": "dir", "enc": {"A128GCM": 1}},
        {"alg": "HS256", "enc": "A128GCM"},
        {"alg": "none", "enc": "A128GCM"},
        {"alg": "RSA1_5", "enc": "A128GCM"},
        {"alg": "dir", "enc": "A128CBC"},
    ],
    ids=lambda header: ",".join(f"{k}={v}" for k, v in header.items())[:60],
)
def test_headers_jotgate_will_not_accept(dir_key, header) -> None:
    token = seal_dir(header, raw_secret(dir_key), SAMPLE)
    assert_refused(token, dir_key, ["dir"], ["A128GCM"])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"alg":"dir","alg":"dir","enc":"A128GCM"}',  # duplicate member
        b'["dir","A128GCM"]',
        b'{"alg":"dir","enc":"A128GCM"',
        b'\xef\xbb\xbf{"alg":"dir","enc":"A128GCM"}',  # byte-order mark
        b'{"alg":"dir","enc":"A128GCM","n":NaN}',
    ],
)
def test_header_json_must_be_strict(dir_key, raw) -> None:
    assert_refused(seal_dir(raw, raw_secret(dir_key), SAMPLE), dir_key, ["dir"], ["A128GCM"])


def test_a_non_canonical_header_encoding_is_refused(dir_key) -> None:
    segment = b64u(b'{"alg":"dir","enc":"A128GCM"}')  # ends in "9" ... "fQ"
    padded = seal_gcm(segment + "==", raw_secret(dir_key), SAMPLE)
    assert_refused(padded, dir_key, ["dir"], ["A128GCM"])


def test_only_the_callers_algorithms_and_encryptions_are_accepted(dir_key) -> None:
    token = seal_dir(DIR, raw_secret(dir_key), SAMPLE)
    assert_refused(token, dir_key, ["A128KW"], ["A128GCM"])
    assert_refused(token, dir_key, ["dir"], ["A256GCM"])


def test_oversized_tokens_and_headers_are_refused_before_decoding(dir_key) -> None:
    assert_refused("A" * (jwe.MAX_TOKEN_LENGTH + 1), dir_key, ["dir"], ["A128GCM"])
    big_header = {**DIR, "typ": "x" * jwe.MAX_HEADER_LENGTH}
    assert_refused(seal_dir(big_header, raw_secret(dir_key), SAMPLE), dir_key, ["dir"], ["A128GCM"])
    for junk in ("", "....", "a.b.c.d.e", "é.b.c.d.e", b"\xff.b.c.d.e", None, 42):
        assert_refused(junk, dir_key, ["dir"], ["A128GCM"])


# -- caller mistakes: raised at once, whatever the token ---------------------------


@pytest.mark.parametrize(
    ("algorithms", "encryptions"),
    [
        ("dir", ["A128GCM"]),
        ([], ["A128GCM"]),
        (["dir"], "A128GCM"),
        (["dir"], []),
        (["RSA1_5"], ["A128GCM"]),
        (["dir"], ["A128CBC"]),
        (["none"], ["A128GCM"]),
    ],
)
def test_allow_lists_must_be_lists_of_implemented_names(dir_key, algorithms, encryptions) -> None:
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwe.decrypt("a.b.c.d.e", dir_key, algorithms=algorithms, encryptions=encryptions)


@pytest.mark.parametrize("count", [None, 0, "10000", 1e4, True])
def test_the_pbes2_cap_must_be_a_positive_int(dir_key, count) -> None:
    with pytest.raises(TypeError):
        jwe.decrypt(
            "a.b.c.d.e", dir_key, algorithms=["dir"], encryptions=["A128GCM"], max_pbes2_count=count
        )


def test_the_key_argument_must_be_a_key_or_key_set() -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwe.decrypt("a.b.c.d.e", b"secret" * 8, algorithms=["dir"], encryptions=["A128GCM"])
    with pytest.raises(errors.InvalidKeyError):
        jwe.encrypt(b"x", {"kty": "oct"}, "dir", "A128GCM")


def test_encrypt_refuses_unknown_and_refused_algorithms(rsa_key) -> None:
    with pytest.raises(errors.UnsupportedAlgorithmError, match="Bleichenbacher"):
        jwe.encrypt(b"x", rsa_key.public_key(), "RSA1_5", "A128CBC-HS256")
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwe.encrypt(b"x", rsa_key.public_key(), "RSA-OAEP", "A128CBC")
    with pytest.raises(TypeError):
        jwe.encrypt("text", rsa_key.public_key(), "RSA-OAEP", "A128GCM")


@pytest.mark.parametrize("name", ["epk", "iv", "tag", "p2s", "crit", "p2c"])
def test_encrypt_refuses_headers_the_library_owns(name) -> None:
    key = secret_key(16, "A128KW")
    with pytest.raises(errors.MalformedTokenError):
        jwe.encrypt(b"x", key, "A128KW", "A128GCM", {name: "x"})


def test_encrypt_refuses_contradicting_or_weak_headers(password) -> None:
    key = secret_key(16, "A128KW")
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwe.encrypt(b"x", key, "A128KW", "A128GCM", {"enc": "A256GCM"})
    with pytest.raises(errors.MalformedTokenError):
        jwe.encrypt(b"x", key, "A128KW", "A128GCM", {"zip": "GZIP"})
    for name in ("kid", "typ", "cty"):
        with pytest.raises(errors.MalformedTokenError):
            jwe.encrypt(b"x", key, "A128KW", "A128GCM", {name: 7})
    for p2c in (999, "5000", 5000.0):
        with pytest.raises(errors.InvalidKeyError):
            jwe.encrypt(b"x", password, "PBES2-HS256+A128KW", "A128GCM", {"p2c": p2c})


# -- keys held to their algorithm ----------------------------------------------------


def test_wrong_key_types_cannot_decrypt(rsa_key, agreement_keys, password) -> None:
    kw = secret_key(32, "A256KW")
    tokens = {
        "A256KW": jwe.encrypt(SAMPLE, kw, "A256KW", "A256GCM"),
        "RSA-OAEP-256": jwe.encrypt(SAMPLE, rsa_key.public_key(), "RSA-OAEP-256", "A256GCM"),
        "ECDH-ES": jwe.encrypt(SAMPLE, agreement_keys["X25519"].public_key(), "ECDH-ES", "A256GCM"),
    }
    wrong = {
        "A256KW": [rsa_key, agreement_keys["P-256"], secret_key(16, "A128KW"), password],
        "RSA-OAEP-256": [kw, agreement_keys["P-256"], rsa_key.public_key()],
        "ECDH-ES": [agreement_keys["P-256"], agreement_keys["X448"], kw, rsa_key],
    }
    for alg, keys in wrong.items():
        for key in keys:
            assert_refused(tokens[alg], key, [alg], ["A256GCM"])


def test_a_public_key_cannot_decrypt(agreement_keys) -> None:
    key = agreement_keys["P-256"]
    token = jwe.encrypt(SAMPLE, key.public_key(), "ECDH-ES", "A256GCM")
    assert_refused(token, key.public_key(), ["ECDH-ES"], ["A256GCM"])


def test_key_sizes_must_match_exactly() -> None:
    with pytest.raises(errors.InvalidKeyError, match="exactly 32 bytes"):
        jwe.encrypt(
            b"x", jwk.Key.from_secret(secrets.token_bytes(24), alg="A256KW"), "A256KW", "A256GCM"
        )
    with pytest.raises(errors.InvalidKeyError):
        jwe.encrypt(b"x", secret_key(16, "dir"), "dir", "A256GCM")
    # A 32-byte dir key for A256GCM is not an A128CBC-HS256 key, though as long.
    dir_gcm = jwk.Key.from_secret(secrets.token_bytes(32), alg="A256GCM")
    assert jwe.encrypt(b"x", dir_gcm, "dir", "A256GCM")
    with pytest.raises(errors.InvalidKeyError):
        jwe.encrypt(b"x", dir_gcm, "dir", "A128CBC-HS256")


@pytest.mark.parametrize(
    "metadata",
    [
        {"use": "sig"},
        {"alg": "A128GCM"},  # a content key is not a wrapping key
        {"alg": "HS256"},
        {"key_ops": ["sign", "verify"]},
        {"key_ops": ["wrapKey"]},  # may wrap, may not unwrap
    ],
)
def test_key_metadata_is_obeyed(metadata) -> None:
    k = b64u(secrets.token_bytes(32))
    sender = jwk.Key.from_jwk({"kty": "oct", "k": k, "alg": "A256KW"})
    token = jwe.encrypt(SAMPLE, sender, "A256KW", "A256GCM")
    receiver = jwk.Key.from_jwk({"kty": "oct", "k": k, **metadata})
    assert_refused(token, receiver, ["A256KW"], ["A256GCM"])


def test_encryption_keys_never_sign() -> None:
    key = jwk.Key.from_jwk({"kty": "oct", "k": b64u(secrets.token_bytes(32)), "use": "enc"})
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"x", key, "HS256")


def test_an_unknown_kid_in_a_key_set_is_refused() -> None:
    sender = jwk.Key.from_secret(secrets.token_bytes(32), alg="A256KW", kid="gone")
    token = jwe.encrypt(SAMPLE, sender, "A256KW", "A256GCM")
    others = jwk.KeySet([jwk.Key.from_secret(secrets.token_bytes(32), alg="A256KW", kid="other")])
    assert_refused(token, others, ["A256KW"], ["A256GCM"])
