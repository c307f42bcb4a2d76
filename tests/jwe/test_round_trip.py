"""jwe.encrypt then jwe.decrypt: every algorithm with every content encryption."""

from __future__ import annotations

import pytest

from jotgate import errors, jwe, jwk

from .conftest import (
    AGREEMENT_CURVES,
    ENCRYPTIONS,
    FAST_P2C,
    header_of,
    key_for,
    secret_key,
    unb64u,
)

KEY_MANAGEMENT = (
    "dir",
    "A128KW",
    "A192KW",
    "A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
    "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW",
    "PBES2-HS512+A256KW",
)
PLAINTEXT = b'{"sub":"8f14e45f-ceea-467e-a0a6-3b1e5f0c7d9a","scope":"read write"}'


def _extras(alg: str) -> dict[str, object] | None:
    return {"p2c": FAST_P2C} if alg.startswith("PBES2") else None


def test_the_table_is_exactly_the_documented_set() -> None:
    assert set(jwe.ALGORITHMS) == set(KEY_MANAGEMENT)
    assert set(jwe.ENCRYPTIONS) == set(ENCRYPTIONS)
    assert "RSA1_5" not in jwe.ALGORITHMS


@pytest.mark.parametrize("enc", ENCRYPTIONS)
@pytest.mark.parametrize("alg", KEY_MANAGEMENT)
def test_every_alg_and_enc_round_trip(alg, enc, rsa_key, agreement_keys, password) -> None:
    key = key_for(alg, enc, rsa_key, agreement_keys, password)
    recipient = key if key.is_symmetric else key.public_key()
    token = jwe.encrypt(PLAINTEXT, recipient, alg, enc, _extras(alg))

    assert token.count(".") == 4
    header = header_of(token)
    assert (header["alg"], header["enc"]) == (alg, enc)
    if alg in ("dir", "ECDH-ES"):
        assert token.split(".")[1] == ""  # no encrypted key
    decrypted = jwe.decrypt(token, key, algorithms=[alg], encryptions=[enc])
    assert decrypted.plaintext == PLAINTEXT
    assert decrypted.header == header
    assert decrypted.key is key


@pytest.mark.parametrize("crv", AGREEMENT_CURVES)
@pytest.mark.parametrize("alg", ["ECDH-ES", "ECDH-ES+A256KW"])
def test_ecdh_on_every_curve(alg, crv, agreement_keys) -> None:
    key = agreement_keys[crv]
    token = jwe.encrypt(PLAINTEXT, key.public_key(), alg, "A256GCM")
    epk = header_of(token)["epk"]
    assert epk["crv"] == crv
    assert "d" not in epk
    assert jwe.decrypt(token, key, algorithms=[alg], encryptions=["A256GCM"]).plaintext == PLAINTEXT


def test_ecdh_party_info_is_carried_and_used(agreement_keys) -> None:
    key = agreement_keys["X25519"]
    headers = {"apu": "QWxpY2U", "apv": "Qm9i"}
    token = jwe.encrypt(b"hi", key.public_key(), "ECDH-ES", "A128GCM", headers)
    assert {"apu": "QWxpY2U", "apv": "Qm9i"}.items() <= header_of(token).items()
    assert (
        jwe.decrypt(token, key, algorithms=["ECDH-ES"], encryptions=["A128GCM"]).plaintext == b"hi"
    )


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096])
@pytest.mark.parametrize("enc", ["A128GCM", "A128CBC-HS256"])
def test_plaintexts_of_any_length(size, enc) -> None:
    key = secret_key(16, "A128KW")
    plaintext = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    token = jwe.encrypt(plaintext, key, "A128KW", enc)
    assert jwe.decrypt(token, key, algorithms=["A128KW"], encryptions=[enc]).plaintext == plaintext


def test_the_key_id_goes_into_the_header_and_headers_add_to_it() -> None:
    key = jwk.Key.from_secret(b"k" * 16 + b"e" * 16, alg="A256KW", kid="wrap-1")
    token = jwe.encrypt(b"x", key, "A256KW", "A256GCM", {"typ": "at+jwt", "cty": "JWT"})
    assert header_of(token) == {
        "alg": "A256KW",
        "enc": "A256GCM",
        "kid": "wrap-1",
        "typ": "at+jwt",
        "cty": "JWT",
    }


def test_two_encryptions_of_the_same_plaintext_differ() -> None:
    key = secret_key(32, "dir")
    first = jwe.encrypt(PLAINTEXT, key, "dir", "A256GCM")
    second = jwe.encrypt(PLAINTEXT, key, "dir", "A256GCM")
    assert first.split(".")[0] == second.split(".")[0]
    assert first.split(".")[2] != second.split(".")[2]  # a fresh IV each time


def test_a_key_set_picks_by_kid_or_tries_every_key() -> None:
    keys = [
        jwk.Key.from_secret(bytes([i]) * 8 + b"wrapping-key-bytes-!!!!!", alg="A256KW", kid=f"k{i}")
        for i in range(3)
    ]
    key_set = jwk.KeySet(keys)
    token = jwe.encrypt(b"for k2", keys[2], "A256KW", "A256GCM")
    assert (
        jwe.decrypt(token, key_set, algorithms=["A256KW"], encryptions=["A256GCM"]).key is keys[2]
    )

    anonymous = jwk.Key.from_secret(bytes([2]) * 8 + b"wrapping-key-bytes-!!!!!", alg="A256KW")
    token = jwe.encrypt(b"no kid", anonymous, "A256KW", "A256GCM")
    assert "kid" not in header_of(token)
    found = jwe.decrypt(token, key_set, algorithms=["A256KW"], encryptions=["A256GCM"])
    assert found.key is keys[2]
    assert found.plaintext == b"no kid"


def test_the_returned_header_is_the_callers_to_change(agreement_keys) -> None:
    key = secret_key(32, "A256KW")
    token = jwe.encrypt(b"x", key, "A256KW", "A256GCM")
    first = jwe.decrypt(token, key, algorithms=["A256KW"], encryptions=["A256GCM"])
    first.header["alg"] = "changed"
    second = jwe.decrypt(token, key, algorithms=["A256KW"], encryptions=["A256GCM"])
    assert second.header["alg"] == "A256KW"


def test_zip_round_trips_only_when_allowed() -> None:
    key = secret_key(16, "A128KW")
    plaintext = b"compress me " * 100
    token = jwe.encrypt(plaintext, key, "A128KW", "A128GCM", {"zip": "DEF"})
    assert len(token) < len(plaintext)
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(token, key, algorithms=["A128KW"], encryptions=["A128GCM"])
    allowed = jwe.decrypt(
        token, key, algorithms=["A128KW"], encryptions=["A128GCM"], allow_zip=True
    )
    assert allowed.plaintext == plaintext


def test_pbes2_uses_the_default_count_unless_told() -> None:
    key = jwk.Key.from_secret(b"a long enough password for a test, really")
    token = jwe.encrypt(b"x", key, "PBES2-HS256+A128KW", "A128GCM")
    assert header_of(token)["p2c"] == jwe.MAX_PBES2_COUNT
    assert len(unb64u(header_of(token)["p2s"])) == 16
    decrypted = jwe.decrypt(token, key, algorithms=["PBES2-HS256+A128KW"], encryptions=["A128GCM"])
    assert decrypted.plaintext == b"x"


def test_bytes_tokens_decrypt_too() -> None:
    key = secret_key(24, "A192KW")
    token = jwe.encrypt(b"bytes", key, "A192KW", "A192GCM").encode()
    assert (
        jwe.decrypt(token, key, algorithms=["A192KW"], encryptions=["A192GCM"]).plaintext
        == b"bytes"
    )


def test_is_compact_jwe_counts_parts() -> None:
    assert jwe.is_compact_jwe("a.b.c.d.e")
    assert jwe.is_compact_jwe(b"a..c.d.e")
    assert not jwe.is_compact_jwe("a.b.c")
    assert not jwe.is_compact_jwe(12345)
