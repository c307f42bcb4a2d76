"""``jotgate token verify``: exit 0 with the claims, 1 with the reason, 2 for usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jotgate import jwk, jwt

from .conftest import NOW, Run


def _token(key: jwk.Key, **claims: Any) -> str:
    return jwt.encode({"sub": "u-1", "iat": NOW, "exp": NOW + 900, **claims}, key)


def _verify(run: Run, token: str, *args: str, stdin: str | None = None) -> Any:
    return run("token", "verify", token, "--now", str(NOW + 60), *args, stdin=stdin)


def test_a_valid_token_prints_its_claims(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    result = _verify(
        run, _token(es256, iss="me"), "--key", str(es256_file), "--alg", "ES256", "--iss", "me"
    )
    assert result.status == 0
    assert result.json() == {"sub": "u-1", "iat": NOW, "exp": NOW + 900, "iss": "me"}
    assert result.err == ""


def test_verifies_with_a_public_pem(run: Run, es256: jwk.Key, es256_public_pem: Path) -> None:
    result = _verify(run, _token(es256), "--key", str(es256_public_pem), "--alg", "ES256")
    assert result.status == 0


def test_verifies_against_a_jwks_by_kid(run: Run, es256: jwk.Key, tmp_path: Path) -> None:
    other = jwk.Key.generate("ES256", kid="other")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwk.KeySet([other, es256.public_key()]).to_jwks()))
    good = _verify(run, _token(es256), "--jwks", str(path), "--alg", "ES256")
    assert good.status == 0
    stranger = jwk.Key.generate("ES256", kid="stranger")
    unknown = _verify(run, _token(stranger), "--jwks", str(path), "--alg", "ES256")
    assert unknown.status == 1
    assert unknown.err.startswith("jotgate: error: key_not_found:")


def test_hmac_with_a_secret_file(run: Run, secret: bytes, secret_file: Path) -> None:
    token = _token(jwk.Key.from_secret(secret, alg="HS256"))
    result = _verify(run, token, "--secret-file", str(secret_file), "--alg", "HS256")
    assert result.status == 0
    assert result.json()["sub"] == "u-1"


def test_token_from_stdin(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    result = _verify(
        run, "-", "--key", str(es256_file), "--alg", "ES256", stdin=_token(es256) + "\n"
    )
    assert result.status == 0


@pytest.mark.parametrize(
    ("claims", "args", "code"),
    [
        ({"exp": NOW + 30}, [], "token_expired"),
        ({"nbf": NOW + 3600}, [], "token_not_yet_valid"),
        ({"iss": "evil"}, ["--iss", "me", "--iss", "also-me"], "invalid_claim"),
        ({"aud": "other-api"}, ["--aud", "api"], "invalid_claim"),
        ({"aud": "api"}, [], "invalid_claim"),  # RFC 7519 §4.1.3: aud needs an audience
        ({}, ["--sub", "u-2"], "invalid_claim"),
        ({}, ["--require", "jti"], "missing_claim"),
        ({"iat": NOW - 7200}, ["--max-age", "1h"], "token_expired"),
        ({}, ["--typ", "at+jwt"], "invalid_claim"),
    ],
)
def test_invalid_claims_exit_1_with_the_error_code(
    run: Run, es256: jwk.Key, es256_file: Path, claims: dict[str, Any], args: list[str], code: str
) -> None:
    result = _verify(
        run, _token(es256, **claims), "--key", str(es256_file), "--alg", "ES256", *args
    )
    assert result.status == 1
    assert result.out == ""
    assert result.err.startswith(f"jotgate: error: {code}:")
    assert result.err.count("\n") == 1


def test_expired_says_when(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    result = _verify(run, _token(es256, exp=NOW), "--key", str(es256_file), "--alg", "ES256")
    assert result.status == 1
    assert "(at 2027-01-15T08:00:00Z, 1m ago)" in result.err


def test_leeway_and_matching_claims_pass(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    token = _token(es256, exp=NOW + 30, iss="me", aud=["api", "x"])
    result = _verify(
        run,
        token,
        "--key",
        str(es256_file),
        "--alg",
        "ES256",
        "--leeway",
        "45s",
        "--iss",
        "me",
        "--aud",
        "api",
        "--sub",
        "u-1",
        "--require",
        "iss",
    )
    assert result.status == 0


def test_wrong_key_is_an_invalid_signature(run: Run, tmp_path: Path, es256_file: Path) -> None:
    forger = jwk.Key.generate("ES256", kid="es-1")
    result = _verify(run, _token(forger), "--key", str(es256_file), "--alg", "ES256")
    assert result.status == 1
    assert result.err.startswith("jotgate: error: invalid_signature:")


def test_an_algorithm_not_allowed_is_refused(
    run: Run, secret: bytes, secret_file: Path, es256: jwk.Key, es256_file: Path
) -> None:
    hs = _token(jwk.Key.from_secret(secret, alg="HS256"))
    result = _verify(run, hs, "--key", str(es256_file), "--alg", "ES256")
    assert result.status == 1
    assert result.err.startswith("jotgate: error: unsupported_algorithm:")


def test_json_output_for_valid_and_invalid_tokens(
    run: Run, es256: jwk.Key, es256_file: Path
) -> None:
    valid = _verify(run, _token(es256), "--key", str(es256_file), "--alg", "ES256", "--json")
    assert valid.status == 0
    assert valid.json() == {"valid": True, "claims": {"sub": "u-1", "iat": NOW, "exp": NOW + 900}}
    expired = _verify(
        run, _token(es256, exp=NOW), "--key", str(es256_file), "--alg", "ES256", "--json"
    )
    assert expired.status == 1
    report = expired.json()
    assert (report["valid"], report["error"]) == (False, "token_expired")


def test_now_judges_the_token_as_of_another_time(
    run: Run, es256: jwk.Key, es256_file: Path
) -> None:
    token = _token(es256)
    key = ["--key", str(es256_file), "--alg", "ES256"]
    assert run("token", "verify", token, *key, "--now", "2027-01-15T08:10:00Z").status == 0
    assert run("token", "verify", token, *key, "--now", "2027-01-15T08:20:00Z").status == 1


@pytest.mark.parametrize(
    "args",
    [
        [],  # no key
        ["--alg", "ES256"],  # still no key
        ["--key", "k.jwk"],  # no --alg
        ["--key", "k.jwk", "--alg", "none"],
        ["--key", "k.jwk", "--secret-env", "S", "--alg", "HS256"],
        ["--key", "k.jwk", "--alg", "ES256", "--leeway", "a while"],
        ["--key", "k.jwk", "--alg", "ES256", "--now", "yesterday"],
        ["--secret", "s3cr3t", "--alg", "HS256"],
    ],
)
def test_usage_errors_exit_2(run: Run, args: list[str]) -> None:
    result = run("token", "verify", "a.b.c", *args)
    assert result.status == 2
    assert result.out == ""


def test_token_and_key_cannot_both_be_stdin(run: Run) -> None:
    result = run("token", "verify", "-", "--key", "-", "--alg", "ES256", stdin="x")
    assert result.status == 2


@pytest.mark.parametrize("token", ["", "   ", "a.b", "Bearer", "x" * 70_000])
def test_malformed_tokens_exit_1(run: Run, es256_file: Path, token: str) -> None:
    result = run("token", "verify", token, "--key", str(es256_file), "--alg", "ES256")
    assert result.status == 1
    assert result.err.startswith("jotgate: error:")
    assert "Traceback" not in result.err
