"""verify_proof's one-pass path keeps every check of the JWS verify core and the strict parser.

The proof is split once, its header is parsed, checked (DPoP rules, then
every JWS header rule) and cached with its key and verifier, and the
signature is checked through ``jws._verify_segments``. Its claims go through
``claims_object``, which answers like the strict parser but sooner for flat
objects. These tests pin what each shortcut still refuses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jotgate import _b64, _json, dpop, jws
from jotgate._dpop_checks import claims_object
from jotgate.errors import MalformedTokenError
from jotgate.jwa import ALGORITHMS

from .conftest import KEYS, Forge, check, default_claims, public_members


def refused(proof: str, reason: str, **options: Any) -> None:
    with pytest.raises(dpop.DPoPError) as caught:
        check(proof, **options)
    assert caught.value.reason == reason


def signed(header: dict[str, Any], claims: bytes, alg: str = "ES256") -> str:
    """A proof over an exact claims text, signed by the ES256 test key."""
    segment = _b64.encode(_json.dumps(header))
    return jws.sign_segments(_b64.encode(claims), KEYS[alg], ALGORITHMS[alg], segment)


def honest_header() -> dict[str, Any]:
    return {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_members(KEYS["ES256"])}


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"crit": ["exp"]}, "malformed"),
        ({"crit": ["x-ext"], "x-ext": 1}, "malformed"),
        ({"b64": False}, "malformed"),
        ({"zip": "DEF"}, "malformed"),
        ({"enc": "A256GCM"}, "malformed"),
        ({"kid": 7}, "malformed"),
        ({"cty": ["x"]}, "malformed"),
    ],
)
def test_every_jws_header_rule_still_applies(
    forge: Forge, extra: dict[str, Any], reason: str
) -> None:
    for _ in range(2):  # the second time the header would come from the cache
        refused(forge(header=extra), reason)


def test_an_honest_header_is_cached_and_a_refused_one_is_not(forge: Forge) -> None:
    dpop._keys.clear()
    check(forge())
    assert len(dpop._keys) == 1
    with pytest.raises(dpop.DPoPError):
        check(forge(header={"crit": ["exp"]}))
    assert len(dpop._keys) == 1


def test_alg_allow_list_is_checked_on_every_proof(forge: Forge) -> None:
    proof = forge()
    check(proof)  # cached now
    refused(forge(), "alg", algorithms=["EdDSA"])
    refused(forge(), "alg", algorithms=["ES384", "PS256"])


@pytest.mark.parametrize(
    "signature",
    [
        bytes(64),  # r = s = 0
        bytes(32) + b"\x01" * 32,  # r = 0
        b"\xff" * 64,  # r, s >= n
        b"\x01" * 63,  # wrong length
        b"\x01" * 65,
    ],
)
def test_signature_range_and_size_checks(forge: Forge, signature: bytes) -> None:
    head, body, _ = forge().split(".")
    check(forge())  # the header is cached: the fused path does the check
    refused(f"{head}.{body}.{_b64.encode_str(signature)}", "signature")


@pytest.mark.parametrize("mangle", ["sig-padded", "sig-non-canonical", "payload-bad", "dots"])
def test_encoding_faults_after_a_cached_header(forge: Forge, mangle: str) -> None:
    proof = forge()
    check(forge())
    head, body, sig = proof.split(".")
    bad = {
        "sig-padded": f"{head}.{body}.{sig}==",
        "sig-non-canonical": f"{head}.{body}.{sig[:-1]}{'B' if sig[-1] == 'A' else 'A'}"
        if len(sig) % 4 == 2
        else f"{head}.{body}.{sig}!",
        "payload-bad": f"{head}.{body[:-1]}*.{sig}",
        "dots": f"{head}.{body}.{sig}.",
    }[mangle]
    with pytest.raises(dpop.DPoPError) as caught:
        check(bad)
    assert caught.value.reason in ("malformed", "signature")


def test_non_ascii_proof_refused(forge: Forge) -> None:
    head, body, sig = forge().split(".")
    refused(f"{head}.{body}é.{sig}", "malformed")


CLAIMS_TEXTS = [
    b'{"jti":"a","htm":"GET","iat":1}',
    b'{"jti":"a","jti":"b"}',
    b'{"jti":"a","jti":1}',
    b'{"a":1,"a":1}',
    b'{"a":{"b":1,"b":2}}',
    b'{"a":[{"b":1,"b":2}]}',
    b'{"a":{"b":1},"c":"d"}',
    b'{"a":"\\u00e9","a":"x"}',
    b'{"a":"\\"","b":"q"}',
    b'{"a":"\\ud800"}',
    b'{"a":"\\ud83d\\ude00"}',
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":-Infinity}',
    b'{"a":1e999}',
    b'{"a":1.5e3,"b":-0.0}',
    b'{"a":true,"b":false,"c":null}',
    b'{"a":"x", "b":"y"}',
    b' {"a":"x"}',
    b'{"a":"x"} ',
    b'{"a":"x"}x',
    b'{"a":"x"}{}',
    b"[]",
    b'"x"',
    b"{}",
    b'{"a":1,}',
    b"\xff{}",
    b'{"\xc3\xa9":"\xc3\xa9"}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":' + b"1" * 5000 + b"}",
    b'{"a":"x","b":"y","a":"z"}',
    b'{"a" :1,"a":2}',
    b'{"a"\t:1,"a":2}',
    b'{"a"\n:1,"a":2}',
    b'{"a"\r:1,"a":2}',
    b'{"a":1 ,"a":2}',
    b'{"a": 1, "b": 2}',
    b'{"a":":x","b":"y:"}',
    b'{"a":":x","a":"y"}',
    b'{"a":{},"b":[]}',
    b'{"a":[1,"x",{}],"b":2}',
    b'{"a":{"b":1}}',
    b'{"a":{"a":1}}',
    b'{"a":"x\ty"}',
    b'{"a":"x y","b":" z"}',
    b'{"a":"\\"}',
    b"",
]


@pytest.mark.parametrize("text", CLAIMS_TEXTS)
def test_claims_object_answers_like_the_strict_parser(text: bytes) -> None:
    try:
        expected: object = _json.loads_object(text, what="DPoP proof claims")
    except MalformedTokenError as exc:
        expected = exc.message
    try:
        got: object = claims_object(text)
    except MalformedTokenError as exc:
        got = exc.message
    assert got == expected
    if isinstance(expected, dict):
        assert json.dumps(got) == json.dumps(expected)  # same order, same types


def test_duplicate_claims_refused_end_to_end() -> None:
    claims = json.dumps(default_claims(), separators=(",", ":")).encode()
    doubled = claims.replace(b'"htm":"GET"', b'"htm":"POST","htm":"GET"')
    assert doubled != claims
    refused(signed(honest_header(), doubled), "malformed")
    check(signed(honest_header(), claims))
