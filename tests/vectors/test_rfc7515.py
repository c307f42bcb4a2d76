"""RFC 7515 Appendix A: the four example JWSs, verified and (where deterministic) re-signed."""

from __future__ import annotations

import functools
import json

import pytest

from jotgate import errors, jwk, jws

from ._signing import signature_over
from ._vectors import load, split, tamper_payload

RFC = load("rfc7515.json")
CASES = ["A.1", "A.2", "A.3", "A.4"]
#: PKCS#1 v1.5 and HMAC signatures are a function of key and input alone.
DETERMINISTIC = ["A.1", "A.2"]


@functools.cache
def _key(case: str, *, public: bool = False) -> jwk.Key:
    key = jwk.Key.from_jwk(RFC[case]["jwk"])
    return key.public_key() if public and not key.is_symmetric else key


@pytest.mark.parametrize("case", CASES)
def test_rfc_token_verifies_with_the_rfc_key(case: str) -> None:
    vec = RFC[case]
    header, payload, _ = split(vec["compact"])
    verified = jws.verify(vec["compact"], _key(case), algorithms=[vec["alg"]])
    assert verified.payload == payload
    assert verified.header == json.loads(header)


@pytest.mark.parametrize("case", ["A.2", "A.3", "A.4"])
def test_rfc_token_verifies_with_the_public_half_alone(case: str) -> None:
    public = _key(case, public=True)
    assert not public.is_private
    verified = jws.verify(RFC[case]["compact"], public, algorithms=[RFC[case]["alg"]])
    assert verified.payload == split(RFC[case]["compact"])[1]


@pytest.mark.parametrize("case", CASES)
def test_rfc_token_with_one_payload_bit_flipped_is_refused(case: str) -> None:
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(tamper_payload(RFC[case]["compact"]), _key(case), algorithms=[RFC[case]["alg"]])


@pytest.mark.parametrize("case", CASES)
def test_rfc_token_is_refused_when_its_alg_is_not_allowed(case: str) -> None:
    other = "ES384" if RFC[case]["alg"] != "ES384" else "ES256"
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jws.verify(RFC[case]["compact"], _key(case), algorithms=[other])


@pytest.mark.parametrize("case", DETERMINISTIC)
def test_signing_the_rfc_signing_input_gives_the_rfc_signature(case: str) -> None:
    # jws.sign serializes its own header (no CRLF), so the RFC's exact signing
    # input is signed through the algorithm table with the imported key.
    vec = RFC[case]
    signing_input, signature = vec["compact"].rsplit(".", 1)
    assert signature_over(_key(case), vec["alg"], signing_input.encode()) == signature


@pytest.mark.parametrize("case", CASES)
def test_jws_sign_of_the_rfc_payload_verifies_with_the_rfc_key(case: str) -> None:
    vec = RFC[case]
    payload = split(vec["compact"])[1]
    token = jws.sign(payload, _key(case), algorithm=vec["alg"])
    verified = jws.verify(token, _key(case, public=True), algorithms=[vec["alg"]])
    assert verified.payload == payload
    assert verified.header["alg"] == vec["alg"]
