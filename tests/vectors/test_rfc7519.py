"""RFC 7519 §3.1: the example JWT, decoded with its claims checked.

The RFC signs it with the HMAC key of RFC 7515 Appendix A.1, and the token
printed in §3.1 is octet for octet the A.1 token, so it is read from there.
"""

from __future__ import annotations

import pytest

from jotgate import errors, jwk, jwt

from ._vectors import load

VECTOR = load("rfc7515.json")["A.1"]
TOKEN = VECTOR["compact"]
#: 2011-03-22T18:43:00Z
EXP = 1300819380
CLAIMS = {"iss": "joe", "exp": EXP, "http://example.com/is_root": True}


@pytest.fixture
def key() -> jwk.Key:
    return jwk.Key.from_jwk(VECTOR["jwk"])


def test_example_jwt_decodes_to_its_claims_a_second_before_it_expires(key: jwk.Key) -> None:
    assert jwt.decode(TOKEN, key, algorithms=["HS256"], now=EXP - 1) == CLAIMS


def test_example_jwt_is_expired_at_the_second_of_its_exp(key: jwk.Key) -> None:
    # RFC 7519 §4.1.4: "on or after" the exp time it must not be accepted.
    with pytest.raises(errors.ExpiredTokenError) as caught:
        jwt.decode(TOKEN, key, algorithms=["HS256"], now=EXP)
    assert caught.value.expired_at == EXP
    assert caught.value.code == "token_expired"


def test_example_jwt_is_still_good_at_exp_within_the_leeway(key: jwk.Key) -> None:
    assert jwt.decode(TOKEN, key, algorithms=["HS256"], now=EXP, leeway=1) == CLAIMS


def test_example_jwt_is_expired_today(key: jwk.Key) -> None:
    with pytest.raises(errors.ExpiredTokenError):
        jwt.decode(TOKEN, key, algorithms=["HS256"])


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt"])
def test_example_jwt_passes_a_typ_check_for_jwt(key: jwk.Key, typ: str) -> None:
    assert jwt.decode(TOKEN, key, algorithms=["HS256"], typ=typ, now=EXP - 1) == CLAIMS


def test_example_jwt_fails_a_typ_check_for_access_tokens(key: jwk.Key) -> None:
    with pytest.raises(errors.ClaimError):
        jwt.decode(TOKEN, key, algorithms=["HS256"], typ="at+jwt", now=EXP - 1)


def test_example_jwt_passes_the_issuer_joe_and_fails_any_other(key: jwk.Key) -> None:
    assert jwt.decode(TOKEN, key, algorithms=["HS256"], issuer="joe", now=EXP - 1) == CLAIMS
    with pytest.raises(errors.InvalidClaimError) as caught:
        jwt.decode(TOKEN, key, algorithms=["HS256"], issuer="Joe", now=EXP - 1)
    assert caught.value.claim == "iss"


def test_example_jwt_header_and_claims_read_unverified() -> None:
    header, claims = jwt.decode_unverified(TOKEN)
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert claims == CLAIMS
