"""``jotgate token encode``: claims from the command line, signed with a key file or secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jotgate import jwk, jwt

from .conftest import Run


def _encode(run: Run, key_file: Path, *args: str) -> str:
    result = run("token", "encode", "--key", str(key_file), *args)
    assert result.status == 0, result.err
    return result.out.strip()


# (what is typed after NAME=, the claim's value in the token)
_CLAIM_VALUES: list[tuple[str, Any]] = [
    ("true", True),
    ("3", 3),
    ("0.5", 0.5),
    ('["a", "b"]', ["a", "b"]),
    ('{"k": null}', {"k": None}),
    ("ada lovelace", "ada lovelace"),
    ("007", "007"),  # not JSON (leading zero): stays a string
    ('"7"', "7"),
    ("", ""),
    ("a=b", "a=b"),
    ("NaN", "NaN"),  # not JSON, whatever Python's json module thinks
    ("1e999", "1e999"),  # would overflow to infinity
]


def test_claim_values_are_json_when_they_parse_and_strings_otherwise(
    run: Run, es256: jwk.Key, es256_file: Path
) -> None:
    args = [arg for i, (raw, _) in enumerate(_CLAIM_VALUES) for arg in ("--claim", f"c{i}={raw}")]
    token = _encode(run, es256_file, "--expires-in", "5m", *args)
    claims = jwt.decode(token, es256, algorithms=["ES256"])
    assert [claims[f"c{i}"] for i in range(len(_CLAIM_VALUES))] == [v for _, v in _CLAIM_VALUES]


def test_registered_claim_options_and_expiry(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    token = _encode(
        run,
        es256_file,
        "--iss",
        "https://auth",
        "--sub",
        "42",
        "--aud",
        "api",
        "--aud",
        "admin",
        "--expires-in",
        "15m",
    )
    claims = jwt.decode(
        token, es256, algorithms=["ES256"], issuer="https://auth", audience="admin", subject="42"
    )
    assert claims["sub"] == "42"  # --sub is a string even when it looks like a number
    assert claims["aud"] == ["api", "admin"]
    assert claims["exp"] - claims["iat"] == 900


def test_claims_json_is_merged_with_claim_options(
    run: Run, es256: jwk.Key, es256_file: Path
) -> None:
    token = _encode(
        run,
        es256_file,
        "--claims-json",
        '{"scope": "read", "n": {"a": [1]}}',
        "--claim",
        "extra=1",
        "--expires-in",
        "1h",
    )
    claims = jwt.decode(token, es256, algorithms=["ES256"])
    assert (claims["scope"], claims["n"], claims["extra"]) == ("read", {"a": [1]}, 1)


@pytest.mark.parametrize(
    "args",
    [
        ["--claim", "a=1", "--claim", "a=2"],
        ["--claims-json", '{"sub": "x"}', "--sub", "y"],
        ["--claims-json", "[1, 2]"],
        ["--claims-json", '{"a": 1, "a": 2}'],
        ["--claims-json", "{nope"],
        ["--claim", "no-equals-sign"],
        ["--claim", "=value"],
        ["--header", "alg=none"],
        ["--header", "typ=x"],
        ["--expires-in", "soon"],
    ],
)
def test_bad_claim_and_header_options_are_usage_errors(
    run: Run, es256_file: Path, args: list[str]
) -> None:
    result = run("token", "encode", "--key", str(es256_file), *args)
    assert result.status == 2
    assert result.out == ""
    assert result.err.startswith("jotgate: error:")


def test_headers_and_typ(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    token = _encode(
        run,
        es256_file,
        "--header",
        "kid=other",
        "--header",
        "x-n=5",
        "--typ",
        "at+jwt",
        "--expires-in",
        "1m",
    )
    header, _ = jwt.decode_unverified(token)
    assert (header["kid"], header["x-n"], header["typ"]) == ("other", 5, "at+jwt")
    jwt.decode(token, es256, algorithms=["ES256"], typ="at+jwt")


def test_a_token_without_exp_is_signed_with_a_warning(
    run: Run, es256: jwk.Key, es256_file: Path
) -> None:
    result = run("token", "encode", "--key", str(es256_file), "--sub", "u")
    assert result.status == 0
    assert "never expires" in result.err
    assert "exp" not in jwt.decode(result.out.strip(), es256, algorithms=["ES256"])


def test_hmac_from_an_environment_variable(
    run: Run, secret: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", secret.decode())
    result = run(
        "token",
        "encode",
        "--secret-env",
        "JWT_SECRET",
        "--alg",
        "HS256",
        "--sub",
        "u",
        "--expires-in",
        "1m",
    )
    assert result.status == 0
    key = jwk.Key.from_secret(secret, alg="HS256")
    assert jwt.decode(result.out.strip(), key, algorithms=["HS256"])["sub"] == "u"


def test_hmac_secret_file_is_used_byte_for_byte_and_a_newline_is_flagged(
    run: Run, tmp_path: Path, secret: bytes
) -> None:
    path = tmp_path / "s"
    path.write_bytes(secret + b"\n")
    result = run(
        "token", "encode", "--secret-file", str(path), "--alg", "HS256", "--expires-in", "1m"
    )
    assert result.status == 0
    assert "newline" in result.err
    with_newline = jwk.Key.from_secret(secret + b"\n", alg="HS256")
    jwt.decode(result.out.strip(), with_newline, algorithms=["HS256"])


def test_missing_or_weak_secrets_fail(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    missing = run("token", "encode", "--secret-env", "NO_SUCH_SECRET", "--alg", "HS256")
    assert missing.status == 1
    assert "NO_SUCH_SECRET" in missing.err
    monkeypatch.setenv("SHORT_SECRET", "hunter2")
    weak = run("token", "encode", "--secret-env", "SHORT_SECRET", "--alg", "HS256")
    assert weak.status == 1
    assert weak.err.startswith("jotgate: error: invalid_key:")
    assert "hunter2" not in weak.err


def test_a_secret_is_never_taken_from_the_command_line(run: Run) -> None:
    result = run(
        "token", "encode", "--secret", "0123456789abcdef0123456789abcdef", "--alg", "HS256"
    )
    assert result.status == 2


def test_a_public_key_or_key_set_cannot_sign(
    run: Run, es256_public_pem: Path, es256: jwk.Key, tmp_path: Path
) -> None:
    public = run("token", "encode", "--key", str(es256_public_pem), "--expires-in", "1m")
    assert public.status == 1
    assert public.out == ""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(jwk.KeySet([es256]).to_jwks(private=True)))
    key_set = run("token", "encode", "--key", str(jwks), "--expires-in", "1m")
    assert key_set.status == 1
    assert "JWKS" in key_set.err


def test_alg_must_fit_the_key(run: Run, es256_file: Path) -> None:
    result = run("token", "encode", "--key", str(es256_file), "--alg", "RS256")
    assert result.status == 1
    assert result.err.startswith("jotgate: error:")
