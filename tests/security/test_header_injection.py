"""Keys named by the token itself are never used (RFC 8725 §3.10, CVE-2018-0114).

The attacker signs with their own key and ships it, or a URL to it, in the
header (``jwk``, ``jku``, ``x5u``, ``x5c``, ``x5t``). A verifier that trusts
the header verifies the attacker's signature with the attacker's key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from jotgate import errors, jwk, jws, jwt

from .conftest import Pair, make_pair
from .forge import b64, forge

CLAIMS = {"sub": "admin", "role": "root", "exp": 4_000_000_000}


def _cert_der(private: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "victim.example")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def attacker(attacker_es_raw: Any) -> Pair:
    return make_pair("ES256", attacker_es_raw)


def _injections(attacker: Pair) -> dict[str, dict[str, Any]]:
    public_jwk = attacker.public.to_jwk()
    cert = _cert_der(attacker.raw)
    return {
        "jwk": {"jwk": public_jwk},
        "jwk-with-kid": {"jwk": public_jwk, "kid": public_jwk["kid"]},
        "jku": {"jku": "https://attacker.example/jwks.json"},
        "x5u": {"x5u": "https://attacker.example/cert.pem"},
        "x5c": {"x5c": [base64.b64encode(cert).decode()]},
        "x5t": {"x5t": b64(hashlib.sha1(cert).digest())},
        "x5t#S256": {"x5t#S256": b64(hashlib.sha256(cert).digest())},
        "all": {
            "jwk": public_jwk,
            "jku": "https://attacker.example/jwks.json",
            "x5u": "https://attacker.example/cert.pem",
            "x5c": [base64.b64encode(cert).decode()],
        },
    }


@pytest.mark.parametrize(
    "name", ["jwk", "jwk-with-kid", "jku", "x5u", "x5c", "x5t", "x5t#S256", "all"]
)
def test_token_signed_by_an_embedded_attacker_key_never_verifies(
    name: str, attacker: Pair, es_pair: Pair
) -> None:
    header = {"alg": "ES256", "typ": "JWT", **_injections(attacker)[name]}
    token = forge("ES256", attacker.raw, header, CLAIMS)
    victim_public = es_pair.public
    for key in (victim_public, es_pair.private):
        with pytest.raises(errors.InvalidSignatureError):
            jws.verify(token, key, algorithms=["ES256"])
        with pytest.raises(errors.InvalidSignatureError):
            jwt.decode(token, key, algorithms=["ES256"])
    # Against a key set the attacker's kid is unknown, or the victim's kid
    # does not verify: never a success.
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(token, jwk.KeySet([victim_public]), algorithms=["ES256"])


def test_embedded_attacker_key_with_the_victims_kid_never_verifies(
    attacker: Pair, es_pair: Pair
) -> None:
    header = {
        "alg": "ES256",
        "kid": es_pair.public.kid,
        "jwk": dict(attacker.public.to_jwk(), kid=es_pair.public.kid),
    }
    token = forge("ES256", attacker.raw, header, CLAIMS)
    with pytest.raises(errors.InvalidSignatureError) as info:
        jws.verify(token, jwk.KeySet([es_pair.public]), algorithms=["ES256"])
    assert type(info.value) is errors.InvalidSignatureError


def test_embedded_symmetric_jwk_is_not_used_as_the_hmac_secret(
    hs_key: jwk.Key,
) -> None:
    attacker_secret = b"a" * 16 + b"attacker-secret!" * 2
    header = {"alg": "HS256", "jwk": {"kty": "oct", "k": b64(attacker_secret)}}
    token = forge("HS256", attacker_secret, header, CLAIMS)
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(token, hs_key, algorithms=["HS256"])


def test_verified_key_is_the_callers_even_when_a_header_names_another(
    attacker: Pair, es_pair: Pair
) -> None:
    # A genuine token that also carries a jwk header: whatever the library
    # does with it, the key reported as having verified is the caller's own.
    header = {"alg": "ES256", "jwk": attacker.public.to_jwk()}
    token = forge("ES256", es_pair.raw, header, CLAIMS)
    try:
        verified = jws.verify(token, es_pair.public, algorithms=["ES256"])
    except errors.JoseError:
        return
    assert verified.key is es_pair.public
    assert verified.key.thumbprint() != attacker.public.thumbprint()


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"crit": ["exp"], "exp": 1}, "unknown critical parameter"),
        ({"crit": ["x-custom"], "x-custom": True}, "unknown critical parameter"),
        ({"crit": ["b64"], "b64": False}, "RFC 7797 unencoded payload"),
        ({"crit": ["b64"], "b64": True}, "b64 is not understood"),
        ({"b64": False}, "b64=false without crit"),
        ({"crit": []}, "crit must not be empty"),
        ({"crit": "exp", "exp": 1}, "crit must be a list"),
        ({"crit": {"exp": 1}, "exp": 1}, "crit must be a list"),
        ({"crit": None}, "crit must be a list"),
        ({"crit": ["alg"]}, "crit may not name registered parameters"),
        ({"crit": ["kid"], "kid": "k"}, "crit may not name registered parameters"),
        ({"crit": ["jwk"]}, "crit may not name registered parameters"),
        ({"crit": ["missing"]}, "crit names an absent parameter"),
        ({"crit": [1]}, "crit names must be strings"),
        ({"crit": ["x", "x"], "x": 1}, "crit repeats a name"),
        ({"zip": "DEF"}, "zip is a JWE parameter"),
        ({"enc": "A128GCM"}, "enc makes it a JWE header"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_critical_and_unsupported_header_parameters_are_refused(
    extra: dict[str, Any], why: str, hs_key: jwk.Key, secret: bytes
) -> None:
    token = forge("HS256", secret, {"alg": "HS256", **extra}, CLAIMS)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, hs_key, algorithms=["HS256"])
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode(token, hs_key, algorithms=["HS256"])


@pytest.mark.parametrize("name", ["kid", "typ", "cty"])
@pytest.mark.parametrize("value", [1, None, ["JWT"], {"a": 1}, True], ids=repr)
def test_string_header_parameters_of_another_type_are_refused(
    name: str, value: object, hs_key: jwk.Key, secret: bytes
) -> None:
    token = forge("HS256", secret, {"alg": "HS256", name: value}, CLAIMS)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, hs_key, algorithms=["HS256"])


def test_signing_refuses_headers_that_would_change_the_meaning(hs_key: jwk.Key) -> None:
    for headers in ({"crit": ["x"], "x": 1}, {"b64": False}, {"zip": "DEF"}):
        with pytest.raises(errors.JoseError):
            jws.sign(b"{}", hs_key, headers=headers)
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jws.sign(b"{}", hs_key, algorithm="HS256", headers={"alg": "none"})
