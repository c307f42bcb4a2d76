"""``jotgate keys``: generate, public, thumbprint."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jotgate import jwk

from .conftest import Run


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: a file made without an explicit mode would come out world-readable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_generate_writes_a_0600_private_jwk_and_prints_the_public_jwk(
    run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "signing.jwk"
    result = run("keys", "generate", "--alg", "ES256", "--kid", "k-1", "--out", str(out))
    assert result.status == 0
    assert _mode(out) == 0o600
    private = jwk.Key.load(out.read_bytes())
    assert private.is_private
    assert private.kid == "k-1"
    printed = result.json()
    assert "d" not in printed
    assert printed == private.to_jwk(private=False)
    assert "(kid k-1) to " in result.err
    assert "(mode 0600)" in result.err


def test_generate_refuses_to_overwrite_an_existing_file(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "signing.jwk"
    out.write_text("precious")
    result = run("keys", "generate", "--alg", "ES256", "--out", str(out))
    assert result.status == 1
    assert out.read_text() == "precious"
    assert result.out == ""
    assert "--force" in result.err


def test_generate_refuses_a_symlink_in_place_of_the_file(run: Run, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "link.jwk").symlink_to(victim)
    result = run("keys", "generate", "--alg", "ES256", "--out", str(tmp_path / "link.jwk"))
    assert result.status == 1
    assert victim.read_text() == "precious"


@pytest.mark.usefixtures("permissive_umask")
def test_force_replaces_the_file_with_a_new_0600_one(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "signing.jwk"
    out.write_text("old")
    out.chmod(0o644)
    result = run("keys", "generate", "--alg", "EdDSA", "--out", str(out), "--force")
    assert result.status == 0
    assert _mode(out) == 0o600
    assert jwk.Key.load(out.read_bytes()).kty == "OKP"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.jwk"]  # no temp file left


@pytest.mark.usefixtures("permissive_umask")
def test_generate_writes_pkcs8_pem_when_the_file_ends_in_pem(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "signing.pem"
    result = run("keys", "generate", "--alg", "ES384", "--out", str(out))
    assert result.status == 0
    assert out.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert _mode(out) == 0o600
    assert jwk.Key.load(out.read_bytes()).crv == "P-384"


def test_generate_encrypts_pem_with_a_password_from_the_environment(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEY_PASSWORD", "correct horse battery staple")
    out = tmp_path / "signing.pem"
    result = run(
        "keys", "generate", "--alg", "ES256", "--out", str(out), "--password-env", "KEY_PASSWORD"
    )
    assert result.status == 0
    assert out.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = jwk.Key.load(out.read_bytes(), password=b"correct horse battery staple")
    assert key.is_private


def test_generate_without_out_prints_no_private_key(run: Run) -> None:
    result = run("keys", "generate", "--alg", "ES256")
    assert result.status == 2
    assert result.out == ""
    assert "--out" in result.err


def test_private_to_stdout_prints_the_private_jwk_with_a_warning(run: Run) -> None:
    result = run("keys", "generate", "--alg", "ES256", "--private-to-stdout")
    assert result.status == 0
    assert jwk.Key.from_jwk(result.out).is_private
    assert "PRIVATE" in result.err


def test_out_and_private_to_stdout_exclude_each_other(run: Run, tmp_path: Path) -> None:
    result = run(
        "keys", "generate", "--alg", "ES256", "--out", str(tmp_path / "k"), "--private-to-stdout"
    )
    assert result.status == 2
    assert not (tmp_path / "k").exists()


def test_hmac_secret_goes_to_the_file_and_nothing_to_stdout(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "hmac.jwk"
    result = run("keys", "generate", "--alg", "HS384", "--out", str(out))
    assert result.status == 0
    assert result.out == ""
    stored = json.loads(out.read_text())
    assert stored["kty"] == "oct"
    assert jwk.Key.from_jwk(stored).is_symmetric


def test_hmac_secret_has_no_pem_form(run: Run, tmp_path: Path) -> None:
    result = run("keys", "generate", "--alg", "HS256", "--out", str(tmp_path / "k.pem"))
    assert result.status == 2
    assert not (tmp_path / "k.pem").exists()


def test_size_is_for_rsa_only(run: Run, tmp_path: Path) -> None:
    result = run(
        "keys", "generate", "--alg", "ES256", "--size", "4096", "--out", str(tmp_path / "k")
    )
    assert result.status == 2


def test_rsa_size_sets_the_modulus_and_weak_sizes_are_refused(run: Run, tmp_path: Path) -> None:
    good = run(
        "keys", "generate", "--alg", "PS256", "--size", "3072", "--out", str(tmp_path / "rsa.jwk")
    )
    assert good.status == 0
    n = good.json()["n"]
    assert len(n) == 512  # 3072 bits = 384 bytes = 512 base64url characters
    weak = run(
        "keys", "generate", "--alg", "RS256", "--size", "1024", "--out", str(tmp_path / "weak.jwk")
    )
    assert weak.status == 1
    assert weak.err.startswith("jotgate: error: invalid_key:")
    assert not (tmp_path / "weak.jwk").exists()


def test_unknown_algorithm_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    assert run("keys", "generate", "--alg", "none", "--out", str(tmp_path / "k")).status == 2


@pytest.mark.parametrize("fixture", ["es256_file", "es256_public_pem"])
def test_public_prints_the_public_jwk_of_a_jwk_or_pem_file(
    run: Run, es256: jwk.Key, fixture: str, request: pytest.FixtureRequest
) -> None:
    result = run("keys", "public", str(request.getfixturevalue(fixture)))
    assert result.status == 0
    printed = result.json()
    assert "d" not in printed
    assert (printed["x"], printed["y"]) == (es256.to_jwk()["x"], es256.to_jwk()["y"])


def test_public_reads_stdin_and_can_print_pem(run: Run, es256: jwk.Key, es256_file: Path) -> None:
    result = run("keys", "public", "-", "--pem", stdin=es256_file.read_bytes())
    assert result.status == 0
    assert result.out.encode() == es256.to_pem()


def test_public_of_a_jwks_is_the_public_jwks(run: Run, tmp_path: Path) -> None:
    keys = jwk.KeySet([jwk.Key.generate("ES256", kid="a"), jwk.Key.generate("EdDSA", kid="b")])
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.to_jwks(private=True)))
    result = run("keys", "public", str(path))
    assert result.status == 0
    assert result.json() == keys.to_jwks(private=False)


def test_public_of_a_secret_key_is_refused(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "hmac.jwk"
    path.write_text(json.dumps(jwk.Key.generate("HS256").to_jwk(private=True)))
    result = run("keys", "public", str(path))
    assert result.status == 1
    assert result.out == ""


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "No such file"),
        (b"not a key at all", "invalid_key"),
        (b'{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}', "invalid_key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "invalid_key"),
    ],
)
def test_bad_key_files_give_one_error_line(
    run: Run, tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_bytes(content)
    for command in ("public", "thumbprint"):
        result = run("keys", command, str(path))
        assert result.status == 1
        assert result.out == ""
        assert result.err.startswith("jotgate: error:")
        assert reason in result.err
        assert result.err.count("\n") == 1


def test_thumbprint_matches_rfc_7638(run: Run, tmp_path: Path) -> None:
    # The example key and thumbprint of RFC 7638 §3.1.
    rfc_key = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v"
        "-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08q"
        "NLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8aw"
        "apJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    path = tmp_path / "rfc.jwk"
    path.write_text(json.dumps(rfc_key))
    result = run("keys", "thumbprint", str(path))
    assert result.status == 0
    assert result.out == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs\n"


def test_thumbprint_lists_each_key_of_a_jwks(run: Run, tmp_path: Path) -> None:
    a, b = jwk.Key.generate("ES256", kid="a"), jwk.Key.generate("ES256", kid="b")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwk.KeySet([a, b]).to_jwks()))
    result = run("keys", "thumbprint", str(path), "--hash", "sha512")
    assert result.status == 0
    assert result.out.splitlines() == [
        f"{a.thumbprint('sha512')}  a",
        f"{b.thumbprint('sha512')}  b",
    ]
