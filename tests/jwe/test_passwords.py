"""PBES2 with human passwords: ``jwk.Key.from_password`` and its limits."""

from __future__ import annotations

import pytest

from jotgate import errors, jwe, jwk, jws

from .conftest import FAST_P2C

PBES2 = ["PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW"]


@pytest.mark.parametrize("alg", PBES2)
def test_a_short_human_password_encrypts_and_decrypts(alg: str) -> None:
    key = jwk.Key.from_password("hunter22", alg=alg)
    token = jwe.encrypt(b"secret notes", key, alg, "A256GCM", headers={"p2c": FAST_P2C})
    same_password = jwk.Key.from_password("hunter22", alg=alg)
    decrypted = jwe.decrypt(token, same_password, algorithms=[alg], encryptions=["A256GCM"])
    assert decrypted.plaintext == b"secret notes"


def test_the_wrong_password_is_the_one_decryption_error() -> None:
    key = jwk.Key.from_password("hunter22")
    token = jwe.encrypt(b"x", key, "PBES2-HS512+A256KW", "A256GCM", headers={"p2c": FAST_P2C})
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(
            token,
            jwk.Key.from_password("hunter23"),
            algorithms=["PBES2-HS512+A256KW"],
            encryptions=["A256GCM"],
        )


@pytest.mark.parametrize("password", ["", "seven77", b"short"])
def test_passwords_under_eight_characters_are_refused(password: str | bytes) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_password(password)


def test_key_material_is_never_a_password() -> None:
    pem = jwk.Key.generate("ES256").to_pem()
    with pytest.raises(errors.InvalidKeyError, match="PEM"):
        jwk.Key.from_password(pem)


@pytest.mark.parametrize("alg", ["HS256", "A256KW", "dir", "none"])
def test_a_password_is_only_for_pbes2(alg: str) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_password("hunter22 and more", alg=alg)


def test_a_password_key_never_signs_or_verifies_a_jws() -> None:
    key = jwk.Key.from_password("a password that is long enough to be an HMAC secret, too")
    assert key.alg == "PBES2-HS512+A256KW"
    assert key.use == "enc"
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"payload", key, algorithm="HS256")
    forged = jws.sign(
        b"payload",
        jwk.Key.from_secret(b"a password that is long enough to be an HMAC secret, too"),
        algorithm="HS256",
    )
    with pytest.raises(errors.InvalidKeyError):
        jws.verify(forged, key, algorithms=["HS256"])


def test_a_password_key_is_bound_to_its_own_pbes2_variant() -> None:
    key = jwk.Key.from_password("hunter22", alg="PBES2-HS256+A128KW")
    with pytest.raises(errors.InvalidKeyError):
        jwe.encrypt(b"x", key, "PBES2-HS512+A256KW", "A256GCM", headers={"p2c": FAST_P2C})


def test_a_short_secret_without_a_pbes2_alg_is_still_refused() -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_secret("hunter22")
    assert jwk.Key.from_secret("hunter22", alg="PBES2-HS256+A128KW").alg == "PBES2-HS256+A128KW"
