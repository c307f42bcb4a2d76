"""``alg: none`` and its cousins never verify (RFC 8725 §3.1, CVE-2015-9235)."""

from __future__ import annotations

import os

import pytest

from jotgate import errors, jwk, jws, jwt

from .conftest import Pair, make_pair
from .forge import b64, forge, raw_signature, signing_input

NONE_SPELLINGS = ["none", "None", "NONE", "nOnE", "NoNe"]
CLAIMS = {"sub": "admin", "exp": 4_000_000_000}


def _none_token(alg: str, signature: bytes) -> str:
    return f"{signing_input({'alg': alg, 'typ': 'JWT'}, CLAIMS)}.{b64(signature)}"


def _signatures(secret: bytes, alg: str) -> list[bytes]:
    data = signing_input({"alg": alg, "typ": "JWT"}, CLAIMS).encode()
    # Empty, junk, and a signature that is a real HS256 MAC of the signing input.
    return [b"", os.urandom(32), raw_signature("HS256", secret, data)]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
@pytest.mark.parametrize("which_key", ["HS256", "RS256", "ES256", "EdDSA"])
def test_alg_none_never_verifies_with_any_key_type(
    alg: str, which_key: str, pairs: dict[str, Pair], secret: bytes
) -> None:
    key = pairs[which_key].public
    for signature in _signatures(secret, alg):
        token = _none_token(alg, signature)
        with pytest.raises(errors.UnsupportedAlgorithmError):
            jws.verify(token, key, algorithms=[which_key])
        with pytest.raises(errors.UnsupportedAlgorithmError):
            jwt.decode(token, key, algorithms=[which_key])


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_never_verifies_against_a_keyset(
    alg: str, pairs: dict[str, Pair], secret: bytes
) -> None:
    keys = jwk.KeySet([pairs["ES256"].public, pairs["EdDSA"].public])
    for signature in _signatures(secret, alg):
        with pytest.raises(errors.UnsupportedAlgorithmError):
            jws.verify(_none_token(alg, signature), keys, algorithms=["ES256", "EdDSA"])


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
@pytest.mark.parametrize("allowed", [["none"], ["HS256", "none"], ["none", "None", "NONE"]])
def test_listing_none_in_algorithms_does_not_make_it_verify(
    alg: str, allowed: list[str], hs_key: jwk.Key, secret: bytes
) -> None:
    for signature in _signatures(secret, alg):
        token = _none_token(alg, signature)
        with pytest.raises(errors.UnsupportedAlgorithmError):
            jws.verify(token, hs_key, algorithms=allowed)
        with pytest.raises(errors.UnsupportedAlgorithmError):
            jwt.decode(token, hs_key, algorithms=allowed)


def test_verify_without_algorithms_is_a_programming_error(hs_key: jwk.Key) -> None:
    token = jws.sign(b"{}", hs_key)
    with pytest.raises(TypeError):
        jws.verify(token, hs_key)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        jwt.decode(token, hs_key)  # type: ignore[call-arg]


@pytest.mark.parametrize("algorithms", [[], (), None, "HS256"])
def test_empty_or_non_list_algorithms_never_verify(algorithms: object, hs_key: jwk.Key) -> None:
    # A bare string is refused too: "HS256" in "HS256,RS256" style checks
    # would turn it into a substring match.
    token = jws.sign(b"{}", hs_key, algorithm="HS256")
    with pytest.raises((errors.UnsupportedAlgorithmError, TypeError)):
        jws.verify(token, hs_key, algorithms=algorithms)  # type: ignore[arg-type]
    with pytest.raises((errors.UnsupportedAlgorithmError, TypeError)):
        jwt.decode(token, hs_key, algorithms=algorithms)  # type: ignore[arg-type]


@pytest.mark.parametrize("decoder", ["jws.verify", "jwt.decode"])
def test_algorithms_as_a_string_is_not_a_substring_allow_list(
    decoder: str, raw_keys: dict[str, object]
) -> None:
    # "ES256" in "ES256K" is True for a str: a caller who wrote
    # algorithms="ES256K" must not get ES256 tokens accepted.
    p256 = make_pair("ES256", raw_keys["ES256"]).public
    untyped = jwk.Key.from_jwk({k: v for k, v in p256.to_jwk().items() if k != "alg"})
    token = forge("ES256", raw_keys["ES256"], {"alg": "ES256"}, CLAIMS)
    check = jws.verify if decoder == "jws.verify" else jwt.decode
    assert check(token, untyped, algorithms=["ES256"])
    for algorithms in ("ES256K", "ES256K,RS256", "RS256 ES256"):
        with pytest.raises((errors.UnsupportedAlgorithmError, TypeError)):
            check(token, untyped, algorithms=algorithms)  # type: ignore[operator]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_signing_with_none_is_refused(alg: str, hs_key: jwk.Key) -> None:
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jws.sign(b"{}", hs_key, algorithm=alg)
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwt.encode({"sub": "x"}, hs_key, algorithm=alg)
    with pytest.raises((errors.UnsupportedAlgorithmError, errors.InvalidKeyError)):
        jwk.Key.generate(alg)


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"alg": None},
        {"alg": ""},
        {"alg": "HS256 "},
        {"alg": " HS256"},
        {"alg": "hs256"},
        {"alg": "HS256\u0000"},
        {"alg": ["HS256"]},
        {"alg": {"name": "HS256"}},
        {"alg": 256},
        {"alg": True},
    ],
    ids=repr,
)
def test_validly_signed_token_with_a_bad_alg_member_is_refused(
    header: dict[str, object], hs_key: jwk.Key, secret: bytes
) -> None:
    token = forge("HS256", secret, header, CLAIMS)
    with pytest.raises((errors.UnsupportedAlgorithmError, errors.MalformedTokenError)):
        jws.verify(token, hs_key, algorithms=["HS256"])


def test_alg_outside_the_allowed_list_is_refused_before_the_signature(
    pairs: dict[str, Pair],
) -> None:
    pair = pairs["HS512"]
    token = forge("HS512", pair.raw, {"alg": "HS512"}, CLAIMS)
    assert jws.verify(token, pair.public, algorithms=["HS512"]).payload
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jws.verify(token, pair.public, algorithms=["HS256", "HS384"])
