"""Running ``jotgate`` in-process, and key files for the commands to read."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jotgate import jwk
from jotgate.cli import main

# A fixed moment for --now, so relative times in the output are exact.
NOW = 1_800_000_000


@dataclass(frozen=True)
class Result:
    """What one ``jotgate`` run produced."""

    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("token", "decode", T, stdin="...")``: main(argv) with captured output."""

    def _run(*argv: str, stdin: str | bytes | None = None) -> Result:
        if stdin is not None:
            raw = stdin.encode() if isinstance(stdin, str) else stdin
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        capsys.readouterr()  # drop anything a fixture printed
        status = main(list(argv))
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return _run


@pytest.fixture(scope="session")
def es256() -> jwk.Key:
    """A private ES256 key with an explicit kid."""
    return jwk.Key.generate("ES256", kid="es-1")


@pytest.fixture(scope="session")
def es256_file(tmp_path_factory: pytest.TempPathFactory, es256: jwk.Key) -> Path:
    """``es256`` as a private JWK file."""
    path = tmp_path_factory.mktemp("keys") / "es256.jwk"
    path.write_text(json.dumps(es256.to_jwk(private=True)))
    return path


@pytest.fixture(scope="session")
def es256_public_pem(tmp_path_factory: pytest.TempPathFactory, es256: jwk.Key) -> Path:
    """The public half of ``es256`` as SubjectPublicKeyInfo PEM."""
    path = tmp_path_factory.mktemp("keys") / "es256.pub.pem"
    path.write_bytes(es256.to_pem())
    return path


@pytest.fixture(scope="session")
def secret() -> bytes:
    """A 32-byte HMAC secret, ASCII so that it can sit in an environment variable."""
    return b"kQ3v9ZtP0xW7mN2cR8yL5hJ1gF4dS6aB"


@pytest.fixture(scope="session")
def secret_file(tmp_path_factory: pytest.TempPathFactory, secret: bytes) -> Path:
    """``secret``, as the exact bytes of a file."""
    path = tmp_path_factory.mktemp("keys") / "hmac.secret"
    path.write_bytes(secret)
    return path
