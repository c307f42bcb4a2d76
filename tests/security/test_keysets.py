"""Key selection: kid tricks, key sets that invite confusion, key metadata."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from jotgate import errors, jwk, jws

from .conftest import Pair, make_pair
from .forge import b64, forge

PAYLOAD = {"sub": "admin"}


@pytest.fixture(scope="module")
def two_es() -> tuple[Pair, Pair]:
    one = make_pair("ES256", ec.generate_private_key(ec.SECP256R1()), kid="one")
    two = make_pair("ES256", ec.generate_private_key(ec.SECP256R1()), kid="two")
    return one, two


@pytest.fixture(scope="module")
def keyset(two_es: tuple[Pair, Pair]) -> jwk.KeySet:
    return jwk.KeySet([two_es[0].public, two_es[1].public])


def test_a_token_verifies_with_the_key_its_kid_names(
    two_es: tuple[Pair, Pair], keyset: jwk.KeySet
) -> None:
    one, two = two_es
    for pair in (one, two):
        token = forge("ES256", pair.raw, {"alg": "ES256", "kid": pair.public.kid}, PAYLOAD)
        assert jws.verify(token, keyset, algorithms=["ES256"]).key.kid == pair.public.kid


def test_kid_pointing_to_another_key_in_the_set_fails_the_signature(
    two_es: tuple[Pair, Pair], keyset: jwk.KeySet
) -> None:
    one, _ = two_es
    token = forge("ES256", one.raw, {"alg": "ES256", "kid": "two"}, PAYLOAD)
    with pytest.raises(errors.InvalidSignatureError) as info:
        jws.verify(token, keyset, algorithms=["ES256"])
    assert type(info.value) is errors.InvalidSignatureError


def test_token_without_kid_tries_every_fitting_key(
    two_es: tuple[Pair, Pair], keyset: jwk.KeySet, attacker_es_raw: Any
) -> None:
    _, two = two_es
    token = forge("ES256", two.raw, {"alg": "ES256"}, PAYLOAD)
    assert jws.verify(token, keyset, algorithms=["ES256"]).key.kid == "two"
    forged = forge("ES256", attacker_es_raw, {"alg": "ES256"}, PAYLOAD)
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(forged, keyset, algorithms=["ES256"])


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "/dev/null",
        "file:///etc/passwd",
        "' OR '1'='1' --",
        "1; DROP TABLE keys",
        "$(id)",
        "one\u0000",
        "one ",
        "ONE",
        "\u043ene",  # Cyrillic o
        "",
        "k" * 400,
    ],
)
def test_unknown_kid_raises_key_not_found(
    kid: str, two_es: tuple[Pair, Pair], keyset: jwk.KeySet
) -> None:
    one, _ = two_es
    token = forge("ES256", one.raw, {"alg": "ES256", "kid": kid}, PAYLOAD)
    with pytest.raises(errors.KeyNotFoundError) as info:
        jws.verify(token, keyset, algorithms=["ES256"])
    assert info.value.code == "key_not_found"
    assert token not in str(info.value)


@pytest.mark.parametrize("kid", [1, 1.5, True, ["one"], {"kid": "one"}, []], ids=repr)
def test_non_string_kid_never_selects_a_key(
    kid: object, two_es: tuple[Pair, Pair], keyset: jwk.KeySet
) -> None:
    one, _ = two_es
    token = forge("ES256", one.raw, {"alg": "ES256", "kid": kid}, PAYLOAD)
    with pytest.raises((errors.MalformedTokenError, errors.KeyNotFoundError)):
        jws.verify(token, keyset, algorithms=["ES256"])


def test_numeric_kid_does_not_match_a_string_kid() -> None:
    raw = ec.generate_private_key(ec.SECP256R1())
    pair = make_pair("ES256", raw, kid="1")
    token = forge("ES256", raw, {"alg": "ES256", "kid": 1}, PAYLOAD)
    with pytest.raises((errors.MalformedTokenError, errors.KeyNotFoundError)):
        jws.verify(token, jwk.KeySet([pair.public]), algorithms=["ES256"])


def test_huge_kid_is_refused_without_echoing_it(
    two_es: tuple[Pair, Pair], keyset: jwk.KeySet
) -> None:
    one, _ = two_es
    kid = "A" * 200_000
    token = forge("ES256", one.raw, {"alg": "ES256", "kid": kid}, PAYLOAD)
    with pytest.raises((errors.MalformedTokenError, errors.KeyNotFoundError)) as info:
        jws.verify(token, keyset, algorithms=["ES256"])
    assert len(str(info.value)) < 500


def test_keyset_refuses_duplicate_kids(two_es: tuple[Pair, Pair]) -> None:
    one, _ = two_es
    other = make_pair("ES256", ec.generate_private_key(ec.SECP256R1()), kid="one")
    with pytest.raises(errors.InvalidKeyError):
        jwk.KeySet([one.public, other.public])
    with pytest.raises(errors.InvalidKeyError):
        jwk.KeySet.from_jwks({"keys": [one.public.to_jwk(), other.public.to_jwk()]})
    # The same key twice is a duplicate kid too (its thumbprint).
    plain = jwk.Key.generate("ES256")
    with pytest.raises(errors.InvalidKeyError):
        jwk.KeySet([plain, plain.public_key()])


def test_keyset_refuses_mixing_secret_and_asymmetric_keys(pairs: dict[str, Pair]) -> None:
    for alg in ("RS256", "ES256", "EdDSA"):
        with pytest.raises(errors.InvalidKeyError):
            jwk.KeySet([pairs[alg].public, pairs["HS256"].private])
        with pytest.raises(errors.InvalidKeyError):
            jwk.KeySet([pairs["HS256"].private, pairs[alg].public])
    document = {
        "keys": [
            pairs["ES256"].public.to_jwk(),
            {"kty": "oct", "k": b64(os.urandom(32)), "kid": "hmac"},
        ]
    }
    with pytest.raises(errors.InvalidKeyError):
        jwk.KeySet.from_jwks(document)


def _member_key(pair: Pair, **members: Any) -> jwk.Key:
    jwk_members = dict(pair.private.to_jwk(private=True), **members)
    return jwk.Key.from_jwk(jwk_members)


@pytest.mark.parametrize(
    "members",
    [
        {"use": "enc"},
        {"use": "Sig"},
        {"use": "signature"},
        {"key_ops": ["sign"]},
        {"key_ops": ["encrypt", "decrypt"]},
        {"key_ops": []},
        {"alg": "PS256"},
    ],
    ids=repr,
)
def test_key_whose_metadata_forbids_verifying_never_verifies(
    members: dict[str, Any], pairs: dict[str, Pair]
) -> None:
    pair = pairs["RS256"]
    good = jws.sign(b"x", pair.private, algorithm="RS256")
    restricted = _member_key(pair, **{"alg": "RS256", **members}).public_key()
    restricted_full = _member_key(pair, **{"alg": "RS256", **members})
    for key in (restricted, restricted_full):
        with pytest.raises(errors.InvalidKeyError):
            jws.verify(good, key, algorithms=["RS256"])
    with pytest.raises(errors.KeyNotFoundError):
        jws.verify(good, jwk.KeySet([restricted]), algorithms=["RS256"])


def test_key_alg_member_binds_rs256_key_away_from_ps256(pairs: dict[str, Pair]) -> None:
    pair = pairs["RS256"]
    ps_token = forge("PS256", pair.raw, {"alg": "PS256"}, PAYLOAD)
    assert pair.public.alg == "RS256"
    with pytest.raises(errors.InvalidKeyError):
        jws.verify(ps_token, pair.public, algorithms=["RS256", "PS256"])
    with pytest.raises(errors.KeyNotFoundError):
        jws.verify(ps_token, jwk.KeySet([pair.public]), algorithms=["RS256", "PS256"])


@pytest.mark.parametrize(
    "members",
    [{"use": "enc"}, {"key_ops": ["verify"]}, {"key_ops": ["encrypt"]}, {"alg": "PS256"}],
    ids=repr,
)
def test_key_whose_metadata_forbids_signing_never_signs(
    members: dict[str, Any], pairs: dict[str, Pair]
) -> None:
    key = _member_key(pairs["RS256"], **{"alg": "RS256", **members})
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"x", key, algorithm="RS256")


def test_hmac_key_with_use_enc_never_verifies(secret: bytes) -> None:
    key = jwk.Key.from_jwk({"kty": "oct", "k": b64(secret), "use": "enc"})
    token = forge("HS256", secret, {"alg": "HS256"}, PAYLOAD)
    with pytest.raises(errors.InvalidKeyError):
        jws.verify(token, key, algorithms=["HS256"])


def test_short_encryption_secret_never_signs_or_verifies() -> None:
    # 16-byte secrets are allowed for A128KW-style use, never for HMAC.
    secret = os.urandom(16)
    key = jwk.Key.from_jwk({"kty": "oct", "k": b64(secret), "use": "enc"})
    token = forge("HS256", secret, {"alg": "HS256"}, PAYLOAD)
    with pytest.raises(errors.InvalidKeyError):
        jws.verify(token, key, algorithms=["HS256"])
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"x", key, algorithm="HS256")


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"keys": None},
        {"keys": {}},
        {"keys": "[]"},
        {"keys": [None]},
        {"keys": [[]]},
        {"keys": ["kty"]},
        [],
        "not json",
        b"\xff\xfe{}",
        '{"keys": [], "keys": []}',
        '{"keys": [{"kty": "oct", "kty": "RSA"}]}',
    ],
    ids=repr,
)
def test_malformed_jwks_raises_invalid_key_error(document: object) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.KeySet.from_jwks(document)  # type: ignore[arg-type]
