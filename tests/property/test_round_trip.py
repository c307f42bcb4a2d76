"""Sign then verify gives back exactly what was signed, for every algorithm."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jotgate import errors, jwa, jwk, jws, jwt

from .conftest import key_for

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
ALGS = sorted(jwa.ALGORITHMS)
REGISTERED = {"exp", "nbf", "iat", "aud", "iss", "sub", "jti"}
NOW = 1_700_000_000

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)
claim_sets = st.dictionaries(
    st.text().filter(lambda name: name not in REGISTERED), json_values, max_size=8
)


def _verifier(key: jwk.Key) -> jwk.Key:
    return key if key.is_symmetric else key.public_key()


def test_every_algorithm_is_exercised() -> None:
    assert {key_for(alg).alg for alg in ALGS} == set(jwa.ALGORITHMS)


@SETTINGS
@given(alg=st.sampled_from(ALGS), claims=claim_sets)
def test_jwt_round_trip_for_every_algorithm(alg: str, claims: dict[str, Any]) -> None:
    key = key_for(alg)
    token = jwt.encode(claims, key, algorithm=alg, now=NOW)
    assert token.isascii()
    assert token.count(".") == 2
    decoded = jwt.decode(token, _verifier(key), algorithms=[alg], now=NOW)
    assert decoded == claims
    header, unverified = jwt.decode_unverified(token)
    assert header["alg"] == alg
    assert unverified == claims


@SETTINGS
@given(alg=st.sampled_from(ALGS), payload=st.binary(max_size=2048))
def test_jws_round_trip_for_every_algorithm(alg: str, payload: bytes) -> None:
    key = key_for(alg)
    verified = jws.verify(jws.sign(payload, key, algorithm=alg), _verifier(key), algorithms=[alg])
    assert verified.payload == payload
    assert verified.header["alg"] == alg
    assert verified.key.thumbprint() == _verifier(key).thumbprint()


@settings(SETTINGS, max_examples=100)
@given(
    alg=st.sampled_from(ALGS),
    claims=claim_sets,
    headers=st.dictionaries(
        st.text(min_size=1).filter(
            lambda n: (
                n not in {"alg", "crit", "b64", "zip", "enc", "kid", "typ", "cty"}
                and n not in {"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"}
            )
        ),
        json_values,
        max_size=3,
    ),
)
def test_extra_header_parameters_round_trip(
    alg: str, claims: dict[str, Any], headers: dict[str, Any]
) -> None:
    key = key_for(alg)
    token = jwt.encode(claims, key, algorithm=alg, headers=headers, now=NOW)
    verified = jws.verify(token, _verifier(key), algorithms=[alg])
    for name, value in headers.items():
        assert verified.header[name] == value
    assert jwt.decode(token, _verifier(key), algorithms=[alg], now=NOW) == claims


@settings(SETTINGS, max_examples=40)
@given(alg=st.sampled_from(ALGS), claims=claim_sets)
def test_a_token_for_one_algorithm_never_verifies_under_another(
    alg: str, claims: dict[str, Any]
) -> None:
    token = jwt.encode(claims, key_for(alg), algorithm=alg, now=NOW)
    for candidate in ALGS:
        if candidate == alg:
            continue
        try:
            jwt.decode(token, _verifier(key_for(candidate)), algorithms=[candidate], now=NOW)
        except errors.JoseError:
            continue
        raise AssertionError(f"{alg} token verified as {candidate}")
