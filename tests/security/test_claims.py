"""Claim checks of RFC 7519 §4.1 and the purposes kept apart by typ and aud."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from jotgate import errors, jwk, jwt

from .forge import forge

NOW = 1_700_000_000


def _token(secret: bytes, claims: dict[str, Any] | bytes, **header: Any) -> str:
    """A validly signed HS256 token with exactly these claims (not via jwt.encode)."""
    return forge("HS256", secret, {"alg": "HS256", **header}, claims)


def _decode(token: str, key: jwk.Key, **options: Any) -> dict[str, Any]:
    options.setdefault("now", NOW)
    return jwt.decode(token, key, algorithms=["HS256"], **options)


# -- exp / nbf / iat -------------------------------------------------------------


def test_exp_fails_at_the_exact_second_and_passes_one_before(
    secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, {"exp": NOW})
    with pytest.raises(errors.ExpiredTokenError) as info:
        _decode(token, hs_key)
    assert info.value.code == "token_expired"
    assert info.value.claim == "exp"
    assert info.value.expired_at == NOW
    assert _decode(token, hs_key, now=NOW - 1) == {"exp": NOW}
    assert _decode(token, hs_key, now=NOW - 0.001) == {"exp": NOW}
    with pytest.raises(errors.ExpiredTokenError):
        _decode(token, hs_key, now=NOW + 0.5)


def test_exp_leeway_extends_up_to_but_not_including_exp_plus_leeway(
    secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, {"exp": NOW})
    assert _decode(token, hs_key, now=NOW + 29, leeway=30)
    assert _decode(token, hs_key, now=NOW + 29, leeway=dt.timedelta(seconds=30))
    for leeway in (30, dt.timedelta(seconds=30)):
        with pytest.raises(errors.ExpiredTokenError):
            _decode(token, hs_key, now=NOW + 30, leeway=leeway)


def test_exp_with_a_fractional_numeric_date_is_honoured(secret: bytes, hs_key: jwk.Key) -> None:
    token = _token(secret, {"exp": NOW + 0.5})
    assert _decode(token, hs_key, now=NOW)
    with pytest.raises(errors.ExpiredTokenError):
        _decode(token, hs_key, now=NOW + 0.5)


def test_now_as_an_aware_datetime(secret: bytes, hs_key: jwk.Key) -> None:
    token = _token(secret, {"exp": NOW})
    at_exp = dt.datetime.fromtimestamp(NOW, tz=dt.UTC)
    with pytest.raises(errors.ExpiredTokenError):
        _decode(token, hs_key, now=at_exp)
    assert _decode(token, hs_key, now=at_exp - dt.timedelta(seconds=1))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    ["9999999999", "1700000000", True, False, None, [9999999999], {"t": 1}, ""],
    ids=repr,
)
def test_numeric_dates_of_another_json_type_are_refused(
    claim: str, value: object, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, {claim: value})
    with pytest.raises(errors.InvalidClaimError) as info:
        _decode(token, hs_key)
    assert info.value.claim == claim
    assert info.value.code == "invalid_claim"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
def test_numeric_dates_that_are_not_finite_are_malformed(
    claim: str, literal: bytes, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, b'{"' + claim.encode() + b'":' + literal + b"}")
    with pytest.raises(errors.MalformedTokenError):
        _decode(token, hs_key)


@pytest.mark.parametrize("leeway", [0, 5, 2.5, dt.timedelta(seconds=5)])
def test_enormous_integer_exp_never_crashes(
    leeway: float | dt.timedelta, secret: bytes, hs_key: jwk.Key
) -> None:
    # 10**400 is a valid JSON integer but overflows a float: the far future
    # is simply not expired; the far past is expired; neither raises
    # OverflowError.
    far = _token(secret, b'{"exp":1' + b"0" * 400 + b"}")
    assert _decode(far, hs_key, leeway=leeway)["exp"] == 10**400
    past = _token(secret, b'{"exp":-1' + b"0" * 400 + b"}")
    with pytest.raises(errors.ClaimError):
        _decode(past, hs_key, leeway=leeway)


@pytest.mark.parametrize("leeway", [0, 5.0])
def test_enormous_integer_iat_with_max_age_never_crashes(
    leeway: float, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, b'{"iat":-1' + b"0" * 400 + b"}")
    with pytest.raises(errors.ClaimError):
        _decode(token, hs_key, max_age=60.5, leeway=leeway)


def test_nbf_in_the_future_is_not_yet_valid(secret: bytes, hs_key: jwk.Key) -> None:
    token = _token(secret, {"nbf": NOW + 1})
    with pytest.raises(errors.NotYetValidError) as info:
        _decode(token, hs_key)
    assert info.value.code == "token_not_yet_valid"
    assert info.value.claim == "nbf"
    assert _decode(token, hs_key, now=NOW + 1)
    assert _decode(token, hs_key, leeway=1)
    assert not isinstance(info.value, errors.ExpiredTokenError)


def test_iat_in_the_future_is_refused_beyond_leeway(secret: bytes, hs_key: jwk.Key) -> None:
    token = _token(secret, {"iat": NOW + 10})
    with pytest.raises(errors.NotYetValidError) as info:
        _decode(token, hs_key)
    assert info.value.claim == "iat"
    assert _decode(token, hs_key, leeway=10)
    with pytest.raises(errors.NotYetValidError):
        _decode(token, hs_key, leeway=9)


def test_max_age_needs_iat_and_refuses_old_tokens(secret: bytes, hs_key: jwk.Key) -> None:
    with pytest.raises(errors.MissingClaimError) as missing:
        _decode(_token(secret, {"sub": "a"}), hs_key, max_age=60)
    assert missing.value.claim == "iat"
    assert missing.value.code == "missing_claim"
    token = _token(secret, {"iat": NOW - 60})
    assert _decode(token, hs_key, max_age=61)
    assert _decode(token, hs_key, max_age=dt.timedelta(seconds=61))
    for max_age in (60, dt.timedelta(minutes=1)):
        with pytest.raises(errors.ClaimError) as info:
            _decode(token, hs_key, max_age=max_age)
        assert info.value.claim == "iat"


# -- iss / sub / aud -------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://a.com.evil",
        "https://a.co",
        "a.com",
        "https://a.com/",
        "HTTPS://A.COM",
        "https://a.com\u0000",
        " https://a.com",
        "",
    ],
)
def test_issuer_is_an_exact_match_never_a_substring_or_prefix(
    iss: str, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, {"iss": iss})
    for issuer in ("https://a.com", ["https://a.com", "https://b.com"]):
        with pytest.raises(errors.InvalidClaimError) as info:
            _decode(token, hs_key, issuer=issuer)
        assert info.value.claim == "iss"
    assert _decode(_token(secret, {"iss": "https://a.com"}), hs_key, issuer="https://a.com")


@pytest.mark.parametrize("iss", [["https://a.com"], {"https://a.com": 1}, 1, None, True], ids=repr)
def test_issuer_claim_that_is_not_a_string_is_refused(
    iss: object, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _token(secret, {"iss": iss})
    with pytest.raises(errors.InvalidClaimError):
        _decode(token, hs_key, issuer="https://a.com")
    with pytest.raises(errors.InvalidClaimError):
        _decode(token, hs_key, issuer=["https://a.com"])


def test_missing_issuer_is_refused_when_one_is_expected(secret: bytes, hs_key: jwk.Key) -> None:
    with pytest.raises(errors.MissingClaimError) as info:
        _decode(_token(secret, {"sub": "x"}), hs_key, issuer="https://a.com")
    assert info.value.claim == "iss"


def test_issuer_list_accepts_any_member_exactly(secret: bytes, hs_key: jwk.Key) -> None:
    issuers = ("https://a.com", "https://b.com")
    for iss in issuers:
        assert _decode(_token(secret, {"iss": iss}), hs_key, issuer=list(issuers))
        assert _decode(_token(secret, {"iss": iss}), hs_key, issuer=issuers)


@pytest.mark.parametrize(
    ("sub", "subject"),
    [("u-10", "u-1"), ("u-1", "u-10"), ("U-1", "u-1"), ("u", "u-1"), ("", "u-1")],
)
def test_subject_is_an_exact_match(sub: str, subject: str, secret: bytes, hs_key: jwk.Key) -> None:
    with pytest.raises(errors.InvalidClaimError) as info:
        _decode(_token(secret, {"sub": sub}), hs_key, subject=subject)
    assert info.value.claim == "sub"


@pytest.mark.parametrize("sub", [1, ["u-1"], None, {"id": "u-1"}], ids=repr)
def test_subject_that_is_not_a_string_is_refused_even_unchecked(
    sub: object, secret: bytes, hs_key: jwk.Key
) -> None:
    with pytest.raises(errors.InvalidClaimError):
        _decode(_token(secret, {"sub": sub}), hs_key)
    with pytest.raises(errors.InvalidClaimError):
        _decode(_token(secret, {"sub": sub}), hs_key, subject="u-1")


@pytest.mark.parametrize(
    ("aud", "audience"),
    [
        ("api", "api"),
        (["api"], "api"),
        (["web", "api"], "api"),
        ("api", ["api", "admin"]),
        (["x", "admin"], ["api", "admin"]),
        ("api", ("other", "api")),
    ],
)
def test_audience_accepted_when_the_token_names_an_expected_one(
    aud: object, audience: object, secret: bytes, hs_key: jwk.Key
) -> None:
    assert _decode(_token(secret, {"aud": aud}), hs_key, audience=audience)["aud"] == aud


@pytest.mark.parametrize(
    ("aud", "audience"),
    [
        ("api", "ap"),
        ("ap", "api"),
        ("api-evil", "api"),
        (["api-evil"], "api"),
        ("api,admin", "api"),
        ("API", "api"),
        ([], "api"),
        ("api", ["apis"]),
        (["a", "p", "i"], "api"),
        ("api", []),
    ],
)
def test_audience_refused_unless_an_exact_member_matches(
    aud: object, audience: object, secret: bytes, hs_key: jwk.Key
) -> None:
    with pytest.raises(errors.InvalidClaimError) as info:
        _decode(_token(secret, {"aud": aud}), hs_key, audience=audience)
    assert info.value.claim == "aud"


@pytest.mark.parametrize("aud", ["api", ["api"], [], ""], ids=repr)
def test_token_with_aud_is_refused_when_no_audience_is_expected(
    aud: object, secret: bytes, hs_key: jwk.Key
) -> None:
    with pytest.raises(errors.InvalidClaimError) as info:
        _decode(_token(secret, {"aud": aud}), hs_key)
    assert info.value.claim == "aud"


@pytest.mark.parametrize("aud", [1, None, True, ["api", 1], [["api"]], {"api": 1}], ids=repr)
def test_aud_of_the_wrong_type_is_refused(aud: object, secret: bytes, hs_key: jwk.Key) -> None:
    with pytest.raises(errors.InvalidClaimError):
        _decode(_token(secret, {"aud": aud}), hs_key, audience="api")


def test_missing_aud_is_refused_when_an_audience_is_expected(
    secret: bytes, hs_key: jwk.Key
) -> None:
    with pytest.raises(errors.MissingClaimError) as info:
        _decode(_token(secret, {"sub": "x"}), hs_key, audience="api")
    assert info.value.claim == "aud"


def test_required_claims_must_be_present(secret: bytes, hs_key: jwk.Key) -> None:
    token = _token(secret, {"sub": "x", "exp": NOW + 60})
    assert _decode(token, hs_key, required=["sub", "exp"])
    for name in ("jti", "sid", "iat"):
        with pytest.raises(errors.MissingClaimError) as info:
            _decode(token, hs_key, required=("sub", name))
        assert info.value.claim == name
        assert info.value.reason == "missing"


def test_first_failing_check_is_reported_with_its_own_class(secret: bytes, hs_key: jwk.Key) -> None:
    # An expired token with a bad signature is a signature failure, not expiry:
    # claims are only looked at once the signature holds.
    token = _token(secret, {"exp": NOW - 10})
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[::-1]}"
    with pytest.raises(errors.JoseError) as info:
        _decode(tampered, hs_key)
    assert not isinstance(info.value, errors.ClaimError)


# -- typ: token purposes ---------------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_matches_case_insensitively_with_optional_application_prefix(
    typ: str, secret: bytes, hs_key: jwk.Key
) -> None:
    assert _decode(_token(secret, {"sub": "a"}, typ=typ), hs_key, typ="at+jwt")
    assert _decode(_token(secret, {"sub": "a"}, typ=typ), hs_key, typ="application/at+jwt")


@pytest.mark.parametrize(
    "typ",
    ["refresh+jwt", "JWT", "id+jwt", "at+jwt ", "at+jwtx", "xat+jwt", "application/", "", "at"],
)
def test_refresh_or_id_token_never_passes_as_an_access_token(
    typ: str, secret: bytes, hs_key: jwk.Key
) -> None:
    with pytest.raises(errors.InvalidClaimError) as info:
        _decode(_token(secret, {"sub": "a"}, typ=typ), hs_key, typ="at+jwt")
    assert info.value.claim == "typ"


def test_token_without_typ_is_refused_when_a_typ_is_expected(
    secret: bytes, hs_key: jwk.Key
) -> None:
    with pytest.raises(errors.ClaimError) as info:
        _decode(_token(secret, {"sub": "a"}), hs_key, typ="at+jwt")
    assert info.value.claim == "typ"


def test_typ_in_the_claims_is_not_the_header_typ(secret: bytes, hs_key: jwk.Key) -> None:
    token = _token(secret, {"sub": "a", "typ": "at+jwt"}, typ="refresh+jwt")
    with pytest.raises(errors.InvalidClaimError):
        _decode(token, hs_key, typ="at+jwt")


def test_encode_sets_the_typ_header(hs_key: jwk.Key) -> None:
    token = jwt.encode({"sub": "a"}, hs_key, typ="at+jwt")
    assert jwt.decode_unverified(token)[0]["typ"] == "at+jwt"
    with pytest.raises(errors.InvalidClaimError):
        jwt.decode(token, hs_key, algorithms=["HS256"], typ="refresh+jwt")
    default = jwt.encode({"sub": "a"}, hs_key)
    assert jwt.decode_unverified(default)[0]["typ"] == "JWT"


# -- encode ----------------------------------------------------------------------


def test_encode_never_mutates_the_callers_claims_or_headers(hs_key: jwk.Key) -> None:
    exp = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    claims: dict[str, Any] = {
        "sub": "u-1",
        "exp": exp,
        "nested": {"roles": ["a", {"deep": [1, 2, {"x": None}]}], "n": 1.5},
        "list": [{"k": "v"}],
    }
    headers: dict[str, Any] = {"kid": "k1", "x-ext": {"a": [1]}}
    claims_before = copy.deepcopy(claims)
    headers_before = copy.deepcopy(headers)
    token = jwt.encode(claims, hs_key, headers=headers, expires_in=60, now=NOW)
    assert claims == claims_before
    assert claims["exp"] is exp
    assert headers == headers_before
    assert "iat" not in claims
    decoded = jwt.decode(token, hs_key, algorithms=["HS256"], now=NOW)
    assert decoded["nested"] == claims["nested"]
    # The decoded claims are the caller's to change: a second decode is unaffected.
    decoded["nested"]["roles"].append("admin")
    again = jwt.decode(token, hs_key, algorithms=["HS256"], now=NOW)
    assert again["nested"]["roles"] == ["a", {"deep": [1, 2, {"x": None}]}]


def test_jwt_sign_never_mutates_the_callers_claims(hs_key: jwk.Key) -> None:
    claims: dict[str, Any] = {"uid": 7, "scope": ["read"]}
    before = copy.deepcopy(claims)
    jwt.sign(claims, hs_key, expires_in="30m", issuer="me", audience="api", subject="u-1")
    assert claims == before


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [
        (45, 45),
        (dt.timedelta(minutes=30), 1800),
        (dt.timedelta(days=14), 14 * 86400),
        ("45s", 45),
        ("30m", 1800),
        ("2h", 7200),
        ("14d", 14 * 86400),
    ],
    ids=repr,
)
def test_expires_in_sets_iat_and_exp(expires_in: object, seconds: int, hs_key: jwk.Key) -> None:
    token = jwt.encode({"sub": "a"}, hs_key, expires_in=expires_in, now=NOW)  # type: ignore[arg-type]
    claims = jwt.decode(token, hs_key, algorithms=["HS256"], now=NOW)
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + seconds
    with pytest.raises(errors.ExpiredTokenError):
        jwt.decode(token, hs_key, algorithms=["HS256"], now=NOW + seconds)


def test_expires_in_keeps_a_given_iat(hs_key: jwk.Key) -> None:
    token = jwt.encode({"iat": NOW - 5}, hs_key, expires_in=60, now=NOW)
    assert jwt.decode_unverified(token)[1]["iat"] == NOW - 5


def test_aware_datetimes_become_numeric_dates(hs_key: jwk.Key) -> None:
    exp = dt.datetime.fromtimestamp(NOW + 90, tz=dt.UTC)
    nbf = dt.datetime.fromtimestamp(NOW - 10, tz=dt.timezone(dt.timedelta(hours=9)))
    token = jwt.encode({"exp": exp, "nbf": nbf}, hs_key)
    claims = jwt.decode_unverified(token)[1]
    assert claims == {"exp": NOW + 90, "nbf": NOW - 10}
    assert all(type(v) in (int, float) for v in claims.values())


def test_naive_datetime_is_refused_by_encode(hs_key: jwk.Key) -> None:
    with pytest.raises((TypeError, errors.JoseError)):
        jwt.encode({"exp": dt.datetime(2100, 1, 1)}, hs_key)


@pytest.mark.parametrize(
    "value", ["30", "soon", -1.0e400, float("nan"), True, "5 parsecs"], ids=repr
)
def test_bad_expires_in_is_refused_by_encode(value: object, hs_key: jwk.Key) -> None:
    with pytest.raises((TypeError, ValueError, errors.JoseError)):
        jwt.encode({"sub": "a"}, hs_key, expires_in=value, now=NOW)  # type: ignore[arg-type]


def test_encode_refuses_claims_that_are_not_strict_json(hs_key: jwk.Key) -> None:
    for claims in ({"x": float("nan")}, {"x": float("inf")}, {"x": {1, 2}}, {"x": b"bytes"}):
        with pytest.raises((TypeError, ValueError, errors.JoseError)):
            jwt.encode(claims, hs_key)
