"""Whatever bytes arrive, the library answers with a token or a JoseError.

Anything else (TypeError, OverflowError, RecursionError...) would be a 500 in
the server and a crash in the middleware.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jotgate import errors, jwk, jws, jwt

from .conftest import key_for

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
VERIFY_ALGS = ["HS256", "ES256", "EdDSA", "RS256"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
NOW = 1_700_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _all_raise_only_jose_errors(token: Any, key: jwk.Key, alg: str) -> None:
    for action in (
        lambda: jws.verify(token, key, algorithms=[alg]),
        lambda: jwt.decode(token, key, algorithms=[alg], now=NOW),
        lambda: jws.verify(token, jwk.KeySet([key]), algorithms=[alg]),
    ):
        try:
            action()
        except errors.JoseError:
            continue
        raise AssertionError(f"{token!r} verified")
    with contextlib.suppress(errors.JoseError):
        jwt.decode_unverified(token)


@SETTINGS
@given(token=st.text(max_size=300), alg=st.sampled_from(VERIFY_ALGS))
def test_arbitrary_text_never_verifies_and_raises_only_jose_errors(token: str, alg: str) -> None:
    _all_raise_only_jose_errors(
        token, key_for(alg).public_key() if alg != "HS256" else key_for(alg), alg
    )


@SETTINGS
@given(token=st.binary(max_size=300), alg=st.sampled_from(VERIFY_ALGS))
def test_arbitrary_bytes_never_verify_and_raise_only_jose_errors(token: bytes, alg: str) -> None:
    _all_raise_only_jose_errors(token, key_for(alg), alg)


three_segments = st.tuples(
    st.text(alphabet=ALPHABET + ".=+/ ", max_size=80),
    st.text(alphabet=ALPHABET + "=+/ ", max_size=80),
    st.text(alphabet=ALPHABET + "=+/ ", max_size=120),
)


@SETTINGS
@given(parts=three_segments, alg=st.sampled_from(VERIFY_ALGS))
def test_token_shaped_garbage_never_verifies(parts: tuple[str, str, str], alg: str) -> None:
    _all_raise_only_jose_errors(".".join(parts), key_for(alg), alg)


@SETTINGS
@given(
    header=st.dictionaries(st.text(max_size=6), json_values, max_size=5),
    payload=json_values,
    alg=st.sampled_from(VERIFY_ALGS),
    signature=st.binary(max_size=300),
)
def test_forged_json_headers_and_payloads_never_verify(
    header: dict[str, Any], payload: Any, alg: str, signature: bytes
) -> None:
    header.setdefault("alg", alg)
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(payload).encode())
    _all_raise_only_jose_errors(f"{head}.{body}.{_b64(signature)}", key_for(alg), alg)


# -- mutated valid tokens ---------------------------------------------------------

CHARS = ALPHABET + ".=+/ \n\t\x00é\u2024"


@st.composite
def mutations(draw: st.DrawFn, token: str) -> str:
    """Flip, insert and delete characters, or swap and repeat segments."""
    text = token
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "swap", "repeat", "cut"]))
        if kind == "swap":
            parts = text.split(".")
            i, j = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
            parts[i], parts[j] = parts[j], parts[i]
            text = ".".join(parts)
        elif kind == "repeat":
            parts = text.split(".")
            parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(parts)))
            text = ".".join(parts)
        elif kind == "cut":
            text = text[: draw(st.integers(0, len(text)))]
        elif not text and kind != "insert":
            continue
        else:
            at = draw(st.integers(0, len(text) - (0 if kind == "insert" else 1)))
            char = draw(st.sampled_from(CHARS))
            if kind == "flip":
                text = text[:at] + char + text[at + 1 :]
            elif kind == "insert":
                text = text[:at] + char + text[at:]
            else:
                text = text[:at] + text[at + 1 :]
    return text


@SETTINGS
@given(data=st.data(), alg=st.sampled_from(VERIFY_ALGS))
def test_any_change_to_a_valid_token_makes_it_fail(data: st.DataObject, alg: str) -> None:
    key = key_for(alg)
    token = jwt.encode({"sub": "u-1", "exp": NOW + 60, "role": "user"}, key, now=NOW)
    verifier = key if alg == "HS256" else key.public_key()
    assert jwt.decode(token, verifier, algorithms=[alg], now=NOW)["sub"] == "u-1"
    mutated = data.draw(mutations(token))
    if mutated == token:
        return
    _all_raise_only_jose_errors(mutated, verifier, alg)


# -- key import -----------------------------------------------------------------

MEMBER_NAMES = [
    "kty", "crv", "x", "y", "n", "e", "d", "k", "p", "q", "dp", "dq", "qi",
    "alg", "use", "key_ops", "kid", "oth", "keys", "x5c",
]  # fmt: skip
member_values = (
    json_values
    | st.sampled_from(["oct", "RSA", "EC", "OKP", "P-256", "P-521", "Ed25519", "X25519"])
    | st.sampled_from(["HS256", "RS256", "ES256", "EdDSA", "sig", "enc", "none", "AQAB"])
    | st.binary(max_size=80).map(_b64)
    | st.lists(st.sampled_from(["sign", "verify", "encrypt", "sign"]), max_size=3)
)


@st.composite
def jwk_like(draw: st.DrawFn) -> dict[str, Any]:
    """A real JWK with some members replaced, removed or added, or a random one."""
    if draw(st.booleans()):
        base = dict(
            draw(
                st.sampled_from(
                    [
                        key_for("ES256").public_key().to_jwk(),
                        key_for("EdDSA").public_key().to_jwk(),
                        key_for("RS256").public_key().to_jwk(),
                        key_for("HS256").to_jwk(private=True),
                        key_for("ES384").to_jwk(private=True),
                    ]
                )
            )
        )
    else:
        base = {}
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(MEMBER_NAMES) | st.text(max_size=4))
        if draw(st.booleans()) and name in base:
            del base[name]
        else:
            base[name] = draw(member_values)
    return base


@SETTINGS
@given(members=jwk_like())
def test_from_jwk_of_any_dict_gives_a_key_or_invalid_key_error(members: dict[str, Any]) -> None:
    try:
        key = jwk.Key.from_jwk(members)
    except errors.InvalidKeyError:
        return
    assert key.kty in ("oct", "RSA", "EC", "OKP")
    # An accepted key exports to a JWK that imports to the same key.
    again = jwk.Key.from_jwk(key.to_jwk(private=key.is_private))
    assert again.thumbprint() == key.thumbprint()


@SETTINGS
@given(data=st.one_of(st.text(max_size=200), st.binary(max_size=200), json_values))
def test_from_jwk_and_from_jwks_of_any_value_raise_only_invalid_key_error(data: Any) -> None:
    parsers: list[Any] = [jwk.Key.from_jwk, jwk.KeySet.from_jwks]
    if isinstance(data, str | bytes):
        parsers.append(jwk.Key.load)
    for parse in parsers:
        with contextlib.suppress(errors.InvalidKeyError):
            parse(data)


@SETTINGS
@given(members=st.lists(jwk_like(), max_size=4))
def test_from_jwks_of_any_key_list_gives_a_keyset_or_invalid_key_error(
    members: list[dict[str, Any]],
) -> None:
    try:
        keys = jwk.KeySet.from_jwks({"keys": members})
    except errors.InvalidKeyError:
        return
    kids = [key.kid for key in keys if key.kid is not None]
    assert len(kids) == len(set(kids))
    assert len({key.is_symmetric for key in keys}) <= 1
