"""RFC 7515 Appendix A read as JWTs: jwt.decode on the RFC's own tokens.

A.1-A.3 sign the same claim set (``exp`` 1300819380) under HS256, RS256 and
ES256, so ``jwt.decode`` must give the same claims for all three and expire
them at the same instant, whichever key family signed. A.4 signs the bare
octets ``Payload``: a valid JWS, but not a JWT. test_rfc7515 checks the
signatures; this module checks what the claim layer makes of them.
"""

from __future__ import annotations

import functools

import pytest

from jotgate import errors, jwk, jws, jwt

from ._vectors import load

RFC = load("rfc7515.json")
JWT_CASES = ["A.1", "A.2", "A.3"]
#: 2011-03-22T18:43:00Z, the exp of the RFC's claim set.
EXP = 1300819380
CLAIMS = {"iss": "joe", "exp": EXP, "http://example.com/is_root": True}


@functools.cache
def _verifying_key(case: str) -> jwk.Key:
    # Cached: importing and checking the RSA private key is the slow part.
    key = jwk.Key.from_jwk(RFC[case]["jwk"])
    return key if key.is_symmetric else key.public_key()


def _decode(case: str, **options: object) -> dict[str, object]:
    return jwt.decode(
        RFC[case]["compact"], _verifying_key(case), algorithms=[RFC[case]["alg"]], **options
    )


@pytest.mark.parametrize("now", [EXP - 1, EXP - 0.001], ids=["second-before", "ms-before"])
@pytest.mark.parametrize("case", JWT_CASES)
def test_rfc_jwt_decodes_to_the_rfc_claims_just_before_exp(case: str, now: float) -> None:
    assert _decode(case, now=now) == CLAIMS


@pytest.mark.parametrize("now", [EXP, EXP + 0.001], ids=["at-exp", "ms-after"])
@pytest.mark.parametrize("case", JWT_CASES)
def test_rfc_jwt_is_expired_from_the_instant_of_its_exp(case: str, now: float) -> None:
    # RFC 7519 §4.1.4: "on or after" exp the JWT must not be accepted.
    with pytest.raises(errors.ExpiredTokenError) as caught:
        _decode(case, now=now)
    assert caught.value.expired_at == EXP
    assert caught.value.claim == "exp"


@pytest.mark.parametrize("case", ["A.2", "A.3"])
def test_rfc_jwt_without_a_typ_header_fails_a_typ_check(case: str) -> None:
    # Only A.1 carries "typ":"JWT"; A.2 and A.3 have {"alg": ...} alone, so
    # asking for a typ must not be satisfied by the header's silence.
    assert _decode("A.1", now=EXP - 1, typ="JWT") == CLAIMS
    with pytest.raises(errors.InvalidClaimError) as caught:
        _decode(case, now=EXP - 1, typ="JWT")
    assert caught.value.claim == "typ"


@pytest.mark.parametrize("case", JWT_CASES)
def test_rfc_jwt_lacks_an_audience_so_asking_for_one_fails(case: str) -> None:
    with pytest.raises(errors.MissingClaimError) as caught:
        _decode(case, now=EXP - 1, audience="joe")
    assert caught.value.claim == "aud"


def test_rfc_a4_token_is_a_valid_jws_but_not_a_jwt() -> None:
    vec = RFC["A.4"]
    # Control: the signature is good and the payload is the seven octets.
    verified = jws.verify(vec["compact"], _verifying_key("A.4"), algorithms=["ES512"])
    assert verified.payload == b"Payload"
    with pytest.raises(errors.MalformedTokenError):
        _decode("A.4", now=EXP - 1)
