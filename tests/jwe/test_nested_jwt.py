"""Nested JWTs (RFC 7519 §5.2): signed, then encrypted, through jwt.encode and jwt.decode."""

from __future__ import annotations

import pytest

from jotgate import errors, jwe, jwk, jwt

from .conftest import header_of, secret_key

NOW = 1_800_000_000
CLAIMS = {"sub": "8f14e45f", "iss": "https://auth.example.com", "scope": "read"}


@pytest.fixture(scope="module")
def signer() -> jwk.Key:
    return jwk.Key.generate("ES256")


def _decode(token, signer, recipient, algs, encs=("A256GCM",), **options):
    return jwt.decode(
        token,
        signer.public_key(),
        algorithms=["ES256"],
        issuer="https://auth.example.com",
        now=NOW,
        decrypt_with=recipient,
        decrypt_algorithms=list(algs),
        encryptions=list(encs),
        **options,
    )


def test_sign_then_encrypt_to_an_ecdh_key(signer, agreement_keys) -> None:
    recipient = agreement_keys["P-256"]
    token = jwt.encode(CLAIMS, signer, expires_in=900, now=NOW, encrypt_to=recipient.public_key())
    header = header_of(token)
    assert header["alg"] == "ECDH-ES+A256KW"  # chosen from the key type
    assert header["enc"] == "A256GCM"
    assert header["cty"] == "JWT"
    assert header["kid"] == recipient.kid
    claims = _decode(token, signer, recipient, ["ECDH-ES+A256KW"])
    assert claims == {**CLAIMS, "iat": NOW, "exp": NOW + 900}


@pytest.mark.parametrize(
    ("key_management", "encryption"),
    [("RSA-OAEP-256", "A256GCM"), ("RSA-OAEP", "A128CBC-HS256")],
)
def test_named_key_management_and_encryption(signer, rsa_key, key_management, encryption) -> None:
    token = jwt.encode(
        CLAIMS,
        signer,
        now=NOW,
        encrypt_to=rsa_key.public_key(),
        encryption=encryption,
        key_management=key_management,
    )
    assert (header_of(token)["alg"], header_of(token)["enc"]) == (key_management, encryption)
    assert _decode(token, signer, rsa_key, [key_management], [encryption]) == CLAIMS


def test_default_key_management_by_key() -> None:
    assert jwe.default_key_management(secret_key(16, "A128KW")) == "A128KW"
    assert jwe.default_key_management(jwk.Key.from_secret(b"s" * 24 + b"t" * 8)) == "A256KW"
    assert jwe.default_key_management(secret_key(32, "dir")) == "dir"
    with pytest.raises(errors.InvalidKeyError):
        jwe.default_key_management(jwk.Key.from_secret(b"q" * 40))
    with pytest.raises(errors.InvalidKeyError):
        jwe.default_key_management(jwk.Key.generate("HS256"))


def test_a_shared_secret_with_dir(signer) -> None:
    shared = secret_key(32, "dir")
    token = jwt.encode(CLAIMS, signer, now=NOW, encrypt_to=shared)
    assert header_of(token)["alg"] == "dir"
    assert _decode(token, signer, shared, ["dir"]) == CLAIMS


def test_the_inner_token_still_has_to_verify(signer, agreement_keys) -> None:
    recipient = agreement_keys["X25519"]
    impostor = jwk.Key.generate("ES256")
    token = jwt.encode(CLAIMS, impostor, now=NOW, encrypt_to=recipient.public_key())
    with pytest.raises(errors.InvalidSignatureError):
        _decode(token, signer, recipient, ["ECDH-ES+A256KW"])


def test_claims_are_checked_after_decryption(signer, agreement_keys) -> None:
    recipient = agreement_keys["X25519"]
    token = jwt.encode(CLAIMS, signer, expires_in=60, now=NOW, encrypt_to=recipient.public_key())
    with pytest.raises(errors.ExpiredTokenError):
        jwt.decode(
            token,
            signer.public_key(),
            algorithms=["ES256"],
            now=NOW + 61,
            decrypt_with=recipient,
            decrypt_algorithms=["ECDH-ES+A256KW"],
            encryptions=["A256GCM"],
        )


def test_a_jwe_without_cty_jwt_is_not_a_nested_jwt(signer, agreement_keys) -> None:
    recipient = agreement_keys["P-384"]
    inner = jwt.encode(CLAIMS, signer, now=NOW).encode()
    token = jwe.encrypt(inner, recipient.public_key(), "ECDH-ES", "A256GCM")
    with pytest.raises(errors.MalformedTokenError, match="cty"):
        _decode(token, signer, recipient, ["ECDH-ES"])
    typed = jwe.encrypt(inner, recipient.public_key(), "ECDH-ES", "A256GCM", {"cty": "jwt"})
    assert _decode(typed, signer, recipient, ["ECDH-ES"]) == CLAIMS


def test_decryption_needs_both_allow_lists(signer, agreement_keys) -> None:
    recipient = agreement_keys["P-256"]
    token = jwt.encode(CLAIMS, signer, now=NOW, encrypt_to=recipient.public_key())
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwt.decode(token, signer.public_key(), algorithms=["ES256"], decrypt_with=recipient)


def test_a_nested_jwt_is_not_accepted_without_decrypt_with(signer, agreement_keys) -> None:
    token = jwt.encode(CLAIMS, signer, now=NOW, encrypt_to=agreement_keys["P-256"].public_key())
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode(token, signer.public_key(), algorithms=["ES256"], now=NOW)


def test_a_key_set_of_recipients(signer) -> None:
    keys = [jwk.Key.from_secret(bytes([n]) * 32, alg="A256KW", kid=f"r{n}") for n in (1, 2)]
    token = jwt.encode(CLAIMS, signer, now=NOW, encrypt_to=keys[1])
    assert _decode(token, signer, jwk.KeySet(keys), ["A256KW"]) == CLAIMS
