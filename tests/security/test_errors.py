"""Every failure is a JoseError of the right class, with a stable code and a
message that never carries the secret or the token."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from jotgate import errors, jwk, jws, jwt

from .conftest import Pair
from .forge import forge

NOW = 1_700_000_000
CODES = {
    errors.JoseError: "jose_error",
    errors.MalformedTokenError: "malformed_token",
    errors.UnsupportedAlgorithmError: "unsupported_algorithm",
    errors.InvalidKeyError: "invalid_key",
    errors.InvalidSignatureError: "invalid_signature",
    errors.KeyNotFoundError: "key_not_found",
    errors.DecryptionError: "decryption_failed",
    errors.ClaimError: "invalid_claim",
    errors.ExpiredTokenError: "token_expired",
    errors.NotYetValidError: "token_not_yet_valid",
    errors.InvalidClaimError: "invalid_claim",
    errors.MissingClaimError: "missing_claim",
}


def test_every_error_class_has_its_documented_code() -> None:
    for cls, code in CODES.items():
        assert cls.code == code
        assert issubclass(cls, errors.JoseError)
    assert issubclass(errors.KeyNotFoundError, errors.InvalidSignatureError)
    for cls in (errors.ExpiredTokenError, errors.NotYetValidError, errors.MissingClaimError):
        assert issubclass(cls, errors.ClaimError)


def _scenarios(pairs: dict[str, Pair]) -> dict[str, tuple[Callable[[], Any], type[Exception]]]:
    hs = pairs["HS256"]
    secret = hs.raw
    es = pairs["ES256"]

    def tok(claims: dict[str, Any], **header: Any) -> str:
        return forge("HS256", secret, {"alg": "HS256", **header}, claims)

    good = tok({"sub": "a", "exp": NOW + 60})
    head, body, sig = good.split(".")
    other = jwk.Key.from_secret(b"o" * 16 + b"ther-secret-bytes" * 2, alg="HS256")

    def dec(token: str, key: Any = hs.public, **kw: Any) -> Callable[[], Any]:
        return lambda: jwt.decode(token, key, algorithms=["HS256"], now=NOW, **kw)

    return {
        "garbage": (dec("not a token"), errors.MalformedTokenError),
        "bad-base64": (dec(f"{head}.{body}.{sig}="), errors.MalformedTokenError),
        "alg-none": (
            dec(forge("HS256", secret, {"alg": "none"}, {})),
            errors.UnsupportedAlgorithmError,
        ),
        "alg-not-allowed": (
            lambda: jwt.decode(good, hs.public, algorithms=["HS512"]),
            errors.UnsupportedAlgorithmError,
        ),
        "wrong-secret": (dec(good, other), errors.InvalidSignatureError),
        "tampered": (
            dec(f"{head}.{tok({'sub': 'b'}).split('.')[1]}.{sig}"),
            errors.InvalidSignatureError,
        ),
        "unknown-kid": (
            lambda: jws.verify(
                forge("ES256", es.raw, {"alg": "ES256", "kid": "nope"}, {}),
                jwk.KeySet([es.public]),
                algorithms=["ES256"],
            ),
            errors.KeyNotFoundError,
        ),
        "key-type-mismatch": (dec(good, es.public), errors.InvalidKeyError),
        "expired": (dec(tok({"exp": NOW})), errors.ExpiredTokenError),
        "not-yet": (dec(tok({"nbf": NOW + 5})), errors.NotYetValidError),
        "bad-iss": (dec(tok({"iss": "x"}), issuer="y"), errors.InvalidClaimError),
        "missing-aud": (dec(tok({}), audience="api"), errors.MissingClaimError),
        "exp-string": (dec(tok({"exp": "9999999999"})), errors.InvalidClaimError),
        "weak-secret": (lambda: jwk.Key.from_secret(secret[:31]), errors.InvalidKeyError),
    }


SCENARIOS = [
    "garbage",
    "bad-base64",
    "alg-none",
    "alg-not-allowed",
    "wrong-secret",
    "tampered",
    "unknown-kid",
    "key-type-mismatch",
    "expired",
    "not-yet",
    "bad-iss",
    "missing-aud",
    "exp-string",
    "weak-secret",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_failure_has_exactly_the_expected_class_and_code(name: str, pairs: dict[str, Pair]) -> None:
    action, expected = _scenarios(pairs)[name]
    with pytest.raises(errors.JoseError) as info:
        action()
    assert type(info.value) is expected
    assert info.value.code == CODES[expected]
    assert isinstance(info.value.message, str)
    assert info.value.message


@pytest.mark.parametrize("name", SCENARIOS)
def test_error_messages_never_carry_the_secret_or_the_token(
    name: str, pairs: dict[str, Pair]
) -> None:
    secret: bytes = pairs["HS256"].raw
    action, _ = _scenarios(pairs)[name]
    with pytest.raises(errors.JoseError) as info:
        action()
    text = str(info.value) + repr(info.value) + repr(info.value.args)
    for spelling in (
        secret.hex(),
        base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
        repr(secret)[2:-1][:24],
    ):
        assert spelling not in text
    assert len(text) < 400


def test_secret_key_repr_and_errors_never_show_the_secret(pairs: dict[str, Pair]) -> None:
    pair = pairs["HS256"]
    shown = repr(pair.private) + str(pair.private)
    assert base64.urlsafe_b64encode(pair.raw).rstrip(b"=").decode() not in shown
    assert pair.raw.hex() not in shown
    lookalike = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    with pytest.raises(errors.InvalidKeyError) as info:
        jwk.Key.from_secret(lookalike)
    assert "MIIEvQIBADAN" not in str(info.value)
