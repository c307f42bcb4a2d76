"""What jotgate does not do, refused with a JoseError wherever it can be written compactly.

jotgate reads and writes the JWS compact serialization only. The cookbook's
§4.5-4.8 examples and RFC 7797 use detached content, unprotected headers,
multiple signatures and unencoded payloads; each test below expresses one of
them as compact text and pins that it is refused, never half-understood.
Where a refusal could come from an unrelated fault, a control next to it
shows the same key and payload verifying in their ordinary form.
"""

from __future__ import annotations

import json

import pytest

from jotgate import errors, jwk, jws

from ._vectors import COOKBOOK_PAYLOAD, b64u, cookbook, hs256_token, load, unb64u

HMAC_KEY = cookbook("jwk/3_5.symmetric_key_mac_computation.json")
HMAC_SECRET = unb64u(HMAC_KEY["k"])
RSA_KEY = cookbook("jwk/3_4.rsa_private_key.json")
#: Imported once: loading (and checking) an RSA private key is the slow part.
RSA_PUBLIC = jwk.Key.from_jwk(RSA_KEY).public_key()
PAYLOAD_SEGMENT = b64u(COOKBOOK_PAYLOAD)


def _hmac_key() -> jwk.Key:
    return jwk.Key.from_jwk(HMAC_KEY)


# -- RFC 7520 §4.5: detached content --------------------------------------------


def test_detached_content_token_is_refused_since_the_payload_is_not_there() -> None:
    vec = cookbook("jws/4_5.signature_with_detached_content.json")
    detached = vec["output"]["compact"]
    header, payload, signature = detached.split(".")
    assert payload == ""
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(detached, _hmac_key(), algorithms=["HS256"])
    # Control: with the content put back, the very same signature verifies.
    attached = f"{header}.{PAYLOAD_SEGMENT}.{signature}"
    assert jws.verify(attached, _hmac_key(), algorithms=["HS256"]).payload == COOKBOOK_PAYLOAD


# -- RFC 7520 §4.6 and §4.7: unprotected header members --------------------------


def test_protected_part_of_the_4_6_example_verifies_and_its_unprotected_kid_is_lost() -> None:
    # §4.6 protects only {"alg":"HS256"}; its kid sits in the unprotected
    # header, which the compact form has no place for. What remains is an
    # ordinary token without a kid, so a key set tries each fitting key.
    vec = cookbook("jws/4_6.protecting_specific_header_fields.json")
    flat = vec["output"]["json_flat"]
    compact = f"{flat['protected']}.{flat['payload']}.{flat['signature']}"
    verified = jws.verify(compact, jwk.KeySet([_hmac_key()]), algorithms=["HS256"])
    assert verified.header == {"alg": "HS256"}
    assert verified.payload == COOKBOOK_PAYLOAD


def test_token_with_no_protected_header_is_refused() -> None:
    # §4.7 protects the content only: alg and kid are unprotected, so the
    # compact form has an empty header segment, which cannot name an alg.
    vec = cookbook("jws/4_7.protecting_content_only.json")
    flat = vec["output"]["json_flat"]
    compact = f".{flat['payload']}.{flat['signature']}"
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(compact, _hmac_key(), algorithms=["HS256"])


# -- RFC 7520 §4.8 and the JSON serializations ----------------------------------

JSON_SERIALIZATIONS = {
    "4.1 general": cookbook("jws/4_1.rsa_v15_signature.json")["output"]["json"],
    "4.1 flattened": cookbook("jws/4_1.rsa_v15_signature.json")["output"]["json_flat"],
    "4.4 flattened": cookbook("jws/4_4.hmac-sha2_integrity_protection.json")["output"]["json_flat"],
    "4.8 multiple signatures": cookbook("jws/4_8.multiple_signatures.json")["output"]["json"],
}


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("name", JSON_SERIALIZATIONS)
def test_json_serialization_is_not_a_compact_token(name: str, as_bytes: bool) -> None:
    text = json.dumps(JSON_SERIALIZATIONS[name])
    token = text.encode() if as_bytes else text
    keys = [_hmac_key()] if name.startswith("4.4") else [RSA_PUBLIC]
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, jwk.KeySet(keys), algorithms=["RS256", "HS256", "ES512"])


def test_each_protected_signature_of_the_4_8_example_verifies_on_its_own() -> None:
    # The RS256 and HS256 signatures of §4.8 have protected headers, so each
    # is a compact token by itself; the ES512 one has none and is refused.
    vec = cookbook("jws/4_8.multiple_signatures.json")
    payload = vec["output"]["json"]["payload"]
    rs256, es512, hs256 = vec["output"]["json"]["signatures"]

    verified = jws.verify(
        f"{rs256['protected']}.{payload}.{rs256['signature']}", RSA_PUBLIC, algorithms=["RS256"]
    )
    assert (verified.header, verified.payload) == ({"alg": "RS256"}, COOKBOOK_PAYLOAD)
    verified = jws.verify(
        f"{hs256['protected']}.{payload}.{hs256['signature']}", _hmac_key(), algorithms=["HS256"]
    )
    assert verified.header["kid"] == HMAC_KEY["kid"]
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(f".{payload}.{es512['signature']}", RSA_PUBLIC, algorithms=["ES512"])


# -- RFC 7797: unencoded payloads (b64: false) ----------------------------------

RFC7797 = load("rfc7797.json")
RFC7797_SECRET = unb64u(RFC7797["jwk"]["k"])
#: A payload of base64url characters only. With b64=false its signing input
#: is the same octets whether it is read encoded or not, so a verifier that
#: ignored b64 would accept the token and hand back the wrong payload.
AMBIGUOUS_PAYLOAD = "eyJzdWIiOiJhZG1pbiJ9"


def _rfc7797_key() -> jwk.Key:
    return jwk.Key.from_jwk(RFC7797["jwk"])


def test_rfc7797_b64_true_example_verifies() -> None:
    # Control for the refusals below: same key, ordinary encoded payload.
    verified = jws.verify(RFC7797["4.1_b64_true_compact"], _rfc7797_key(), algorithms=["HS256"])
    assert verified.payload == RFC7797["payload"].encode()


def test_rfc7797_b64_false_detached_example_is_refused() -> None:
    with pytest.raises(errors.JoseError):
        jws.verify(RFC7797["4.2_b64_false_detached_compact"], _rfc7797_key(), algorithms=["HS256"])


def test_cookbook_b64_false_compact_token_is_refused() -> None:
    vec = cookbook("rfc7797/hmac-sha2_b64_false.json")
    key = jwk.Key.from_jwk(vec["input"]["key"])
    with pytest.raises(errors.JoseError):
        jws.verify(vec["output"]["compact"], key, algorithms=["HS256"])


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "b64": False, "crit": ["b64"]},
        # RFC 7797 §6 requires b64 in crit; without it the header is invalid.
        {"alg": "HS256", "b64": False},
    ],
    ids=["with-crit", "without-crit"],
)
def test_validly_signed_b64_false_token_is_refused(header: dict[str, object]) -> None:
    token = hs256_token(RFC7797_SECRET, json.dumps(header).encode(), AMBIGUOUS_PAYLOAD)
    with pytest.raises(errors.JoseError):
        jws.verify(token, _rfc7797_key(), algorithms=["HS256"])
    # Control: the same segments under an ordinary header verify.
    plain = hs256_token(RFC7797_SECRET, b'{"alg":"HS256"}', AMBIGUOUS_PAYLOAD)
    assert jws.verify(plain, _rfc7797_key(), algorithms=["HS256"]).payload == b'{"sub":"admin"}'


def test_jws_sign_will_not_write_a_b64_false_header() -> None:
    with pytest.raises(errors.JoseError):
        jws.sign(b"$.02", _rfc7797_key(), headers={"b64": False, "crit": ["b64"]})


# -- RFC 7515 §4.1.11: critical parameters it does not understand ---------------


def test_token_marking_an_unknown_parameter_critical_is_refused() -> None:
    # The parameter of RFC 7515 Appendix E's negative test, in a validly
    # signed HS256 token rather than the appendix's alg "none" one.
    header = {
        "alg": "HS256",
        "crit": ["http://example.invalid/UNDEFINED"],
        "http://example.invalid/UNDEFINED": True,
    }
    token = hs256_token(HMAC_SECRET, json.dumps(header).encode(), PAYLOAD_SEGMENT)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, _hmac_key(), algorithms=["HS256"])
