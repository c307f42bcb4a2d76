"""Strict compact parsing: one spelling per token, JSON objects only, size caps.

Every token here carries a *valid* HMAC over exactly the bytes it holds, so
only the parser can refuse it.
"""

from __future__ import annotations

import pytest

from jotgate import errors, jwk, jws, jwt

from .forge import b64, forge, raw_signature, to_json

CLAIMS = {"sub": "admin", "exp": 4_000_000_000}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _all_refuse(token: object, key: jwk.Key, *, unverified: bool = True) -> None:
    """jws.verify, jwt.decode (and jwt.decode_unverified) all say malformed."""
    with pytest.raises(errors.MalformedTokenError) as info:
        jws.verify(token, key, algorithms=["HS256"])  # type: ignore[arg-type]
    if isinstance(token, str) and len(token) > 40:
        assert token not in str(info.value)
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode(token, key, algorithms=["HS256"])  # type: ignore[arg-type]
    if unverified:
        with pytest.raises(errors.MalformedTokenError):
            jwt.decode_unverified(token)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def good(secret: bytes) -> str:
    return forge("HS256", secret, {"alg": "HS256", "typ": "JWT"}, CLAIMS)


def test_the_base_token_verifies(good: str, hs_key: jwk.Key) -> None:
    assert jwt.decode(good, hs_key, algorithms=["HS256"]) == CLAIMS


# -- base64url -----------------------------------------------------------------


def _resigned(secret: bytes, head: str, body: str) -> str:
    """A token over exactly these two segments, with a valid HS256 MAC."""
    data = f"{head}.{body}"
    return f"{data}.{b64(raw_signature('HS256', secret, data.encode()))}"


def _respelled(good: str, secret: bytes, part: int, change) -> str:  # type: ignore[no-untyped-def]
    parts = good.split(".")
    parts[part] = change(parts[part])
    if part == 2:
        return ".".join(parts)
    return _resigned(secret, parts[0], parts[1])


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("pad", ["=", "==", "==="])
def test_padding_on_any_segment_is_refused(
    part: int, pad: str, good: str, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _respelled(good, secret, part, lambda seg: seg + pad)
    _all_refuse(token, hs_key, unverified=part != 2)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_padding_inside_a_segment_is_refused(
    part: int, good: str, secret: bytes, hs_key: jwk.Key
) -> None:
    token = _respelled(good, secret, part, lambda seg: seg[:8] + "=" + seg[8:])
    _all_refuse(token, hs_key, unverified=part != 2)


@pytest.mark.parametrize("part", [0, 1])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("space", [" ", "\n", "\t", "\r\n"])
def test_whitespace_inside_a_validly_signed_segment_is_refused(
    part: int, where: str, space: str, good: str, secret: bytes, hs_key: jwk.Key
) -> None:
    at = {"start": 0, "middle": 8, "end": None}[where]
    token = _respelled(
        good, secret, part, lambda seg: seg + space if at is None else seg[:at] + space + seg[at:]
    )
    _all_refuse(token, hs_key)


def _non_canonical_variants(segment: str) -> list[str]:
    """Same decoded bytes, different last character: only unused bits differ."""
    unused = {2: 4, 3: 2}.get(len(segment) % 4, 0)
    last = ALPHABET.index(segment[-1])
    assert last % (1 << unused) == 0
    return [segment[:-1] + ALPHABET[last + k] for k in range(1, 1 << unused)]


def test_signature_differing_only_in_unused_bits_is_refused(good: str, hs_key: jwk.Key) -> None:
    head, body, sig = good.split(".")
    variants = _non_canonical_variants(sig)
    assert len(variants) == 3  # 32-byte HMAC: 43 chars, 2 unused bits
    for variant in variants:
        _all_refuse(f"{head}.{body}.{variant}", hs_key, unverified=False)


def test_header_and_payload_differing_only_in_unused_bits_are_refused(
    secret: bytes, hs_key: jwk.Key
) -> None:
    # Find a header and a payload whose lengths leave unused bits, and sign
    # the non-canonical spelling itself so the MAC is valid over what is sent.
    for pad in range(3):
        header = {"alg": "HS256", "x": "y" * pad}
        head = b64(to_json(header))
        if len(head) % 4:
            break
    for pad in range(3):
        payload = dict(CLAIMS, x="y" * pad)
        body = b64(to_json(payload))
        if len(body) % 4:
            break
    for variant in _non_canonical_variants(head):
        data = f"{variant}.{body}"
        token = f"{data}.{b64(raw_signature('HS256', secret, data.encode()))}"
        _all_refuse(token, hs_key)
    for variant in _non_canonical_variants(body):
        data = f"{head}.{variant}"
        token = f"{data}.{b64(raw_signature('HS256', secret, data.encode()))}"
        _all_refuse(token, hs_key)


def test_standard_base64_alphabet_is_refused(secret: bytes, hs_key: jwk.Key) -> None:
    # Find a signature whose base64url spelling uses '-' or '_', then spell it
    # with '+' and '/': the same bytes in the wrong alphabet.
    for i in range(200):
        token = forge("HS256", secret, {"alg": "HS256"}, {"n": i})
        sig = token.rsplit(".", 1)[1]
        if "-" in sig or "_" in sig:
            break
    else:
        pytest.fail("no signature with '-' or '_' in 200 tries")
    head, body, _ = token.split(".")
    standard = sig.replace("-", "+").replace("_", "/")
    _all_refuse(f"{head}.{body}.{standard}", hs_key, unverified=False)


def test_standard_alphabet_in_a_header_is_refused(secret: bytes, hs_key: jwk.Key) -> None:
    for i in range(500):
        head = b64(to_json({"alg": "HS256", "n": "?>~" * (i % 7), "i": i}))
        if "-" in head or "_" in head:
            break
    else:
        pytest.fail("no header with '-' or '_' in 500 tries")
    data = f"{head.replace('-', '+').replace('_', '/')}.{b64(to_json(CLAIMS))}"
    token = f"{data}.{b64(raw_signature('HS256', secret, data.encode()))}"
    _all_refuse(token, hs_key)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: " " + t,
        lambda t: t + " ",
        lambda t: t + "\n",
        lambda t: t + "\r\n",
        lambda t: "\t" + t,
        lambda t: t.replace(".", "\n.", 1),
        lambda t: t[:10] + " " + t[10:],
        lambda t: t[:10] + "\n" + t[10:],
        lambda t: t[:-5] + "\u00a0" + t[-5:],
        lambda t: "Bearer " + t,
    ],
    ids=[
        "lead-space",
        "trail-space",
        "trail-lf",
        "trail-crlf",
        "lead-tab",
        "lf-before-dot",
        "space-inside-header",
        "lf-inside-header",
        "nbsp-in-signature",
        "bearer-prefix",
    ],
)
def test_whitespace_anywhere_is_refused(mangle, good: str, hs_key: jwk.Key) -> None:  # type: ignore[no-untyped-def]
    _all_refuse(mangle(good), hs_key, unverified=False)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(mangle(good), hs_key, algorithms=["HS256"])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".",
        lambda t: "." + t,
        lambda t: t + ".AAAA",
        lambda t: t.replace(".", "..", 1),
        lambda t: t.rsplit(".", 1)[0],
        lambda t: t.split(".")[0],
        lambda t: t.replace(".", ""),
        lambda t: "..",
        lambda t: ".",
        lambda t: "",
        lambda t: "....",
    ],
    ids=[
        "trailing-dot",
        "leading-dot",
        "four-parts",
        "empty-part",
        "two-parts",
        "one-part",
        "no-dots",
        "only-dots",
        "one-dot",
        "empty",
        "five-empty-parts",
    ],
)
def test_wrong_number_of_parts_is_refused(mangle, good: str, hs_key: jwk.Key) -> None:  # type: ignore[no-untyped-def]
    _all_refuse(mangle(good), hs_key)


def test_five_part_jwe_handed_to_jws_verify_is_refused(secret: bytes, hs_key: jwk.Key) -> None:
    header = b64(to_json({"alg": "dir", "enc": "A256GCM"}))
    jwe = f"{header}..{b64(b'iv' * 6)}.{b64(b'ciphertext')}.{b64(b't' * 16)}"
    _all_refuse(jwe, hs_key)
    # And a three-part token whose header is a JWE header.
    token = forge("HS256", secret, {"alg": "HS256", "enc": "A256GCM"}, CLAIMS)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, hs_key, algorithms=["HS256"])


@pytest.mark.parametrize("char", ["é", "\u0410", "\u2024", "\uff0e", "\U0001f600", "\x00"])
def test_non_ascii_and_nul_characters_are_refused(char: str, good: str, hs_key: jwk.Key) -> None:
    _all_refuse(good[:8] + char + good[8:], hs_key)
    _all_refuse(good.replace(".", char, 1), hs_key)


@pytest.mark.parametrize("token", [None, 42, 4.2, ["a.b.c"], {"t": "a.b.c"}, bytearray(b"a.b.c")])
def test_a_token_that_is_not_str_or_bytes_is_malformed(token: object, hs_key: jwk.Key) -> None:
    _all_refuse(token, hs_key)


def test_bytes_token_verifies_like_its_str(good: str, hs_key: jwk.Key) -> None:
    assert jws.verify(good.encode(), hs_key, algorithms=["HS256"]).payload == to_json(CLAIMS)
    assert jwt.decode(good.encode(), hs_key, algorithms=["HS256"]) == CLAIMS
    _all_refuse(good.encode() + b"\xff", hs_key)
    _all_refuse(good.encode("utf-16"), hs_key)


# -- JSON ------------------------------------------------------------------------

BAD_HEADERS: dict[str, bytes] = {
    "array": b'["HS256"]',
    "string": b'"HS256"',
    "number": b"256",
    "null": b"null",
    "true": b"true",
    "empty": b"",
    "whitespace": b"  ",
    "two-objects": b'{"alg":"HS256"}{"alg":"HS256"}',
    "trailing-garbage": b'{"alg":"HS256"}x',
    "trailing-comma": b'{"alg":"HS256",}',
    "single-quotes": b"{'alg':'HS256'}",
    "duplicate-alg": b'{"alg":"HS256","alg":"none"}',
    "duplicate-alg-reversed": b'{"alg":"none","alg":"HS256"}',
    "duplicate-kid": b'{"alg":"HS256","kid":"a","kid":"b"}',
    "duplicate-nested": b'{"alg":"HS256","x":{"a":1,"a":2}}',
    "duplicate-in-array": b'{"alg":"HS256","x":[{"a":1,"a":2}]}',
    "duplicate-escaped": b'{"alg":"HS256","\\u0061lg":"HS256"}',
    "nan": b'{"alg":"HS256","x":NaN}',
    "infinity": b'{"alg":"HS256","x":Infinity}',
    "minus-infinity": b'{"alg":"HS256","x":-Infinity}',
    "overflow": b'{"alg":"HS256","x":1e400}',
    "lone-high-surrogate": b'{"alg":"HS256","x":"\\ud800"}',
    "lone-low-surrogate": b'{"alg":"HS256","x":"\\udc00"}',
    "surrogate-in-name": b'{"alg":"HS256","\\ud83d":1}',
    "invalid-utf8": b'{"alg":"HS256","x":"\xff"}',
    "overlong-utf8": b'{"alg":"HS256","x":"\xc0\xaf"}',
    "encoded-surrogate-utf8": b'{"alg":"HS256","x":"\xed\xa0\x80"}',
    "utf8-bom": b'\xef\xbb\xbf{"alg":"HS256"}',
    "utf16-le": '{"alg":"HS256"}'.encode("utf-16-le"),
    "utf16-bom": '{"alg":"HS256"}'.encode("utf-16"),
    "utf32": '{"alg":"HS256"}'.encode("utf-32"),
    "deep-nesting": b'{"alg":"HS256","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_header_that_is_not_one_strict_json_object_is_refused(
    name: str, secret: bytes, hs_key: jwk.Key
) -> None:
    token = forge("HS256", secret, BAD_HEADERS[name], CLAIMS)
    _all_refuse(token, hs_key)


BAD_PAYLOADS: dict[str, bytes] = {
    name: value.replace(b'"alg":"HS256"', b'"sub":"admin"').replace(b"HS256", b"admin")
    for name, value in BAD_HEADERS.items()
    if name not in ("deep-nesting", "duplicate-alg", "duplicate-alg-reversed", "duplicate-escaped")
}
BAD_PAYLOADS["duplicate-escaped"] = b'{"sub":"alice","\\u0073ub":"admin"}'
BAD_PAYLOADS["duplicate-sub"] = b'{"sub":"alice","sub":"admin"}'
BAD_PAYLOADS["duplicate-deep"] = b'{"sub":"a","x":{"y":[{"z":{"q":1,"q":2}}]}}'
BAD_PAYLOADS["duplicate-exp"] = b'{"sub":"a","exp":1,"exp":4000000000}'


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_claims_that_are_not_one_strict_json_object_are_refused(
    name: str, secret: bytes, hs_key: jwk.Key
) -> None:
    token = forge("HS256", secret, {"alg": "HS256"}, BAD_PAYLOADS[name])
    # jws.verify hands back the payload bytes untouched; jwt parses them.
    assert jws.verify(token, hs_key, algorithms=["HS256"]).payload == BAD_PAYLOADS[name]
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode(token, hs_key, algorithms=["HS256"])
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode_unverified(token)


def test_huge_integer_claim_is_refused_as_malformed(secret: bytes, hs_key: jwk.Key) -> None:
    payload = b'{"sub":"a","n":' + b"9" * 5000 + b"}"
    token = forge("HS256", secret, {"alg": "HS256"}, payload)
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode(token, hs_key, algorithms=["HS256"])


# -- size caps -------------------------------------------------------------------


def test_megabyte_token_is_refused_as_malformed_before_decoding(hs_key: jwk.Key) -> None:
    # The header says alg "none": had the header been decoded first, the error
    # would be UnsupportedAlgorithmError. The signature is not even base64url.
    head = b64(to_json({"alg": "none"}))
    token = f"{head}.{'A' * (1 << 20)}.!!!"
    for check in (
        lambda: jws.verify(token, hs_key, algorithms=["HS256"]),
        lambda: jwt.decode(token, hs_key, algorithms=["HS256"]),
        lambda: jwt.decode_unverified(token),
        lambda: jws.verify(token.encode(), hs_key, algorithms=["HS256"]),
    ):
        with pytest.raises(errors.MalformedTokenError):
            check()


def test_megabyte_of_non_ascii_is_refused_as_malformed(hs_key: jwk.Key) -> None:
    token = "\u00e9" * (1 << 20)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, hs_key, algorithms=["HS256"])


def test_token_one_past_the_length_cap_is_refused_and_one_under_verifies(
    secret: bytes, hs_key: jwk.Key
) -> None:
    cap = jws.MAX_TOKEN_LENGTH
    assert 1024 <= cap <= 1 << 20

    def token_of_length(target: int) -> str:
        filler = 0
        while True:
            token = forge("HS256", secret, {"alg": "HS256"}, {"f": "x" * filler})
            if len(token) >= target - 3:
                break
            filler += max(1, (target - len(token)) * 3 // 4 - 2)
        for extra in range(8):
            token = forge("HS256", secret, {"alg": "HS256"}, {"f": "x" * (filler + extra)})
            if len(token) in (target, target + 1):
                return token
        pytest.fail("could not hit the target length")

    near = token_of_length(cap - 1)
    assert len(near) <= cap
    assert jws.verify(near, hs_key, algorithms=["HS256"])
    over = token_of_length(cap + 1)
    if len(over) == cap:
        over = token_of_length(cap + 2)
    assert len(over) > cap
    _all_refuse(over, hs_key)


def test_header_over_the_cap_is_refused_even_with_a_valid_signature(
    secret: bytes, hs_key: jwk.Key
) -> None:
    header = {"alg": "HS256", "x": "y" * jws.MAX_HEADER_LENGTH}
    token = forge("HS256", secret, header, CLAIMS)
    assert len(token) < jws.MAX_TOKEN_LENGTH
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, hs_key, algorithms=["HS256"])
    with pytest.raises(errors.MalformedTokenError):
        jwt.decode(token, hs_key, algorithms=["HS256"])


def test_header_with_many_members_under_the_token_cap_is_refused(
    secret: bytes, hs_key: jwk.Key
) -> None:
    header = {"alg": "HS256", **{f"p{i}": i for i in range(2000)}}
    token = forge("HS256", secret, header, CLAIMS)
    with pytest.raises(errors.MalformedTokenError):
        jws.verify(token, hs_key, algorithms=["HS256"])


def test_cached_header_is_not_handed_out_for_mutation(good: str, hs_key: jwk.Key) -> None:
    first = jws.verify(good, hs_key, algorithms=["HS256"])
    first.header["alg"] = "none"
    first.header["typ"] = "evil"
    second = jws.verify(good, hs_key, algorithms=["HS256"])
    assert second.header == {"alg": "HS256", "typ": "JWT"}


def test_nested_header_values_are_not_shared_between_verifications(
    secret: bytes, hs_key: jwk.Key
) -> None:
    token = forge("HS256", secret, {"alg": "HS256", "ext": {"role": "user"}}, CLAIMS)
    first = jws.verify(token, hs_key, algorithms=["HS256"])
    first.header["ext"]["role"] = "admin"
    second = jws.verify(token, hs_key, algorithms=["HS256"])
    assert second.header["ext"] == {"role": "user"}
