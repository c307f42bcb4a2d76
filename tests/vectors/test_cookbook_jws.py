"""RFC 7520 §4.1-4.4 (JOSE cookbook) and the cookbook's Ed25519 example, compact form."""

from __future__ import annotations

import functools
import json

import pytest

from jotgate import errors, jwk, jws

from ._signing import signature_over
from ._vectors import COOKBOOK_PAYLOAD, cookbook, load, split, tamper_payload

NAMES = [
    "jws/4_1.rsa_v15_signature",
    "jws/4_2.rsa-pss_signature",
    "jws/4_3.ecdsa_signature",
    "jws/4_4.hmac-sha2_integrity_protection",
    "curve25519/jws",
]
VECTORS = {name: cookbook(f"{name}.json") for name in NAMES}
#: RS256, HS256 and EdDSA signatures depend on key and input alone.
DETERMINISTIC = [
    "jws/4_1.rsa_v15_signature",
    "jws/4_4.hmac-sha2_integrity_protection",
    "curve25519/jws",
]
#: Where the cookbook's header is exactly what jws.sign writes ({"alg","kid"},
#: compact JSON, that order), so jws.sign must give the cookbook token itself.
#: The curve25519 key has no kid, and jws.sign adds its thumbprint as one.
REPRODUCIBLE_BY_JWS_SIGN = DETERMINISTIC[:2]


@functools.cache
def _key(name: str) -> jwk.Key:
    return jwk.Key.from_jwk(VECTORS[name]["input"]["key"])


def _verifying_key(name: str) -> jwk.Key:
    key = _key(name)
    return key if key.is_symmetric else key.public_key()


def _alg(name: str) -> str:
    return VECTORS[name]["input"]["alg"]


def _payload(name: str) -> bytes:
    return VECTORS[name]["input"]["payload"].encode()


def test_cookbook_payload_is_the_rfc7520_figure_7_text() -> None:
    assert _payload("jws/4_1.rsa_v15_signature") == COOKBOOK_PAYLOAD


@pytest.mark.parametrize("name", NAMES)
def test_cookbook_compact_token_verifies_with_the_cookbook_key(name: str) -> None:
    vec = VECTORS[name]
    verified = jws.verify(vec["output"]["compact"], _verifying_key(name), algorithms=[_alg(name)])
    assert verified.payload == _payload(name)
    assert verified.header == vec["signing"]["protected"]


@pytest.mark.parametrize("name", NAMES[:4])
def test_cookbook_compact_token_verifies_through_a_keyset_by_its_kid(name: str) -> None:
    keys = jwk.KeySet([_verifying_key(name)])
    verified = jws.verify(VECTORS[name]["output"]["compact"], keys, algorithms=[_alg(name)])
    assert verified.key.kid == VECTORS[name]["signing"]["protected"]["kid"]


def test_cookbook_token_naming_a_kid_the_keyset_lacks_is_refused_as_key_not_found() -> None:
    # The RFC 7515 A.2 key is RSA too and fits RS256, but its kid (its
    # thumbprint) is not "bilbo.baggins@hobbiton.example".
    other = jwk.Key.from_jwk(load("rfc7515.json")["A.2"]["jwk"]).public_key()
    token = VECTORS["jws/4_1.rsa_v15_signature"]["output"]["compact"]
    with pytest.raises(errors.KeyNotFoundError):
        jws.verify(token, jwk.KeySet([other]), algorithms=["RS256"])


@pytest.mark.parametrize("name", NAMES)
def test_cookbook_compact_token_with_a_flipped_payload_bit_is_refused(name: str) -> None:
    token = tamper_payload(VECTORS[name]["output"]["compact"])
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(token, _verifying_key(name), algorithms=[_alg(name)])


@pytest.mark.parametrize("name", NAMES)
def test_cookbook_segments_are_the_cookbook_header_and_payload(name: str) -> None:
    # Guards the vectors themselves: the compact token carries exactly the
    # protected header and the payload the cookbook says it signs.
    vec = VECTORS[name]
    header, payload, _ = split(vec["output"]["compact"])
    assert json.loads(header) == vec["signing"]["protected"]
    assert payload == _payload(name)
    assert vec["output"]["compact"].rsplit(".", 1)[0] == vec["signing"]["sig-input"]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_signing_the_cookbook_signing_input_gives_the_cookbook_signature(name: str) -> None:
    signing = VECTORS[name]["signing"]
    assert signature_over(_key(name), _alg(name), signing["sig-input"].encode()) == signing["sig"]


@pytest.mark.parametrize("name", REPRODUCIBLE_BY_JWS_SIGN)
def test_jws_sign_reproduces_the_cookbook_token_exactly(name: str) -> None:
    token = jws.sign(_payload(name), _key(name), algorithm=_alg(name))
    assert token == VECTORS[name]["output"]["compact"]


@pytest.mark.parametrize("name", NAMES)
def test_jws_sign_of_the_cookbook_payload_verifies_with_the_cookbook_key(name: str) -> None:
    token = jws.sign(_payload(name), _key(name), algorithm=_alg(name))
    verified = jws.verify(token, _verifying_key(name), algorithms=[_alg(name)])
    assert verified.payload == _payload(name)
    assert verified.header["alg"] == _alg(name)


def test_ecdsa_p521_signature_is_132_octets_of_r_and_s() -> None:
    # RFC 7518 §3.4: R and S are each 66 octets for P-521, not DER.
    name = "jws/4_3.ecdsa_signature"
    assert len(split(VECTORS[name]["output"]["compact"])[2]) == 132
    assert len(split(jws.sign(_payload(name), _key(name), algorithm="ES512"))[2]) == 132
