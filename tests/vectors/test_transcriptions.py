"""The hand-transcribed vectors are right, judged by ``cryptography`` and the stdlib alone.

Every other module here trusts data/rfc*.json. These tests check each
transcription against an independent implementation, so that when a jotgate
test fails the fault is jotgate's, not a typo in a 342-character modulus.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._vectors import b64u, cookbook, hs256, load, split, unb64u

RFC7515 = load("rfc7515.json")
RFC7638 = load("rfc7638.json")
RFC8037 = load("rfc8037.json")


def _int(member: str) -> int:
    return int.from_bytes(unb64u(member), "big")


def _signing_input(token: str) -> bytes:
    return token.rsplit(".", 1)[0].encode()


def test_rfc7515_a1_octets_are_the_segments_of_its_token() -> None:
    vec = RFC7515["A.1"]
    header, payload, _ = vec["compact"].split(".")
    assert header == b64u(bytes(vec["protected_octets"]))
    assert payload == b64u(bytes(vec["payload_octets"]))
    # The RFC's point: CRLF and a leading space are part of the signed octets.
    assert bytes(vec["protected_octets"]) == b'{"typ":"JWT",\r\n "alg":"HS256"}'


def test_rfc7515_a1_hmac_matches() -> None:
    vec = RFC7515["A.1"]
    token = vec["compact"]
    assert hs256(unb64u(vec["jwk"]["k"]), _signing_input(token)) == token.rsplit(".", 1)[1]


def test_rfc7515_a2_rsa_key_is_consistent_and_signature_verifies() -> None:
    jwk = RFC7515["A.2"]["jwk"]
    public = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
    # private_key() checks p*q == n, d, dp, dq and qi against each other.
    private = rsa.RSAPrivateNumbers(
        p=_int(jwk["p"]),
        q=_int(jwk["q"]),
        d=_int(jwk["d"]),
        dmp1=_int(jwk["dp"]),
        dmq1=_int(jwk["dq"]),
        iqmp=_int(jwk["qi"]),
        public_numbers=public,
    ).private_key()
    token = RFC7515["A.2"]["compact"]
    signature = split(token)[2]
    private.public_key().verify(
        signature, _signing_input(token), padding.PKCS1v15(), hashes.SHA256()
    )
    # PKCS#1 v1.5 is deterministic: re-signing gives the RFC's octets.
    assert private.sign(_signing_input(token), padding.PKCS1v15(), hashes.SHA256()) == signature


@pytest.mark.parametrize(
    ("case", "curve", "digest", "size"),
    [
        ("A.3", ec.SECP256R1(), hashes.SHA256(), 32),
        ("A.4", ec.SECP521R1(), hashes.SHA512(), 66),
    ],
)
def test_rfc7515_ecdsa_key_is_consistent_and_signature_verifies(
    case: str, curve: ec.EllipticCurve, digest: hashes.HashAlgorithm, size: int
) -> None:
    jwk = RFC7515[case]["jwk"]
    private = ec.derive_private_key(_int(jwk["d"]), curve)
    numbers = private.public_key().public_numbers()
    assert (numbers.x, numbers.y) == (_int(jwk["x"]), _int(jwk["y"]))
    token = RFC7515[case]["compact"]
    signature = split(token)[2]
    assert len(signature) == 2 * size
    der = encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )
    private.public_key().verify(der, _signing_input(token), ec.ECDSA(digest))


def test_rfc7638_thumbprint_is_the_sha256_of_the_required_members() -> None:
    jwk = RFC7638["jwk"]
    canonical = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"))
    assert b64u(hashlib.sha256(canonical.encode()).digest()) == RFC7638["thumbprint_sha256"]


def test_rfc8037_key_thumbprint_and_signature() -> None:
    jwk = RFC8037["private_jwk"]
    private = ed25519.Ed25519PrivateKey.from_private_bytes(unb64u(jwk["d"]))
    public_raw = private.public_key().public_bytes_raw()
    assert b64u(public_raw) == jwk["x"] == RFC8037["public_jwk"]["x"]
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{jwk["x"]}"}}'
    assert b64u(hashlib.sha256(canonical.encode()).digest()) == RFC8037["thumbprint_sha256"]
    token = RFC8037["compact"]
    header, payload, signature = split(token)
    assert (header, payload) == (b'{"alg":"EdDSA"}', RFC8037["payload"].encode())
    assert private.sign(_signing_input(token)) == signature


def test_rfc8037_example_is_the_cookbook_curve25519_example() -> None:
    vec = cookbook("curve25519/jws.json")
    assert vec["output"]["compact"] == RFC8037["compact"]
    assert vec["input"]["key"]["d"] == RFC8037["private_jwk"]["d"]


def test_rfc7797_signatures_match_their_signing_inputs() -> None:
    vec = load("rfc7797.json")
    secret = unb64u(vec["jwk"]["k"])
    attached = vec["4.1_b64_true_compact"]
    assert split(attached)[1] == vec["payload"].encode()
    assert hs256(secret, _signing_input(attached)) == attached.rsplit(".", 1)[1]
    # b64=false: the payload goes into the signing input as is, and the
    # compact form leaves it out (detached, RFC 7515 Appendix F).
    header, empty, signature = vec["4.2_b64_false_detached_compact"].split(".")
    assert empty == ""
    assert json.loads(unb64u(header)) == {"alg": "HS256", "b64": False, "crit": ["b64"]}
    assert hs256(secret, f"{header}.{vec['payload']}".encode()) == signature
