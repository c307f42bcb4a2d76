"""The code stays lint-clean and the library stays ``mypy --strict`` clean.

Run as tests so that README's one test command (and CI) checks them too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The library proper (DESIGN.md layers 1-7) and the CLI, held to mypy --strict.
LIBRARY = [
    "src/jotgate/__init__.py",
    "src/jotgate/errors.py",
    "src/jotgate/_b64.py",
    "src/jotgate/_json.py",
    "src/jotgate/_claims.py",
    "src/jotgate/_keycheck.py",
    "src/jotgate/_keyload.py",
    "src/jotgate/_jwk_members.py",
    "src/jotgate/durations.py",
    "src/jotgate/jwa.py",
    "src/jotgate/jwk.py",
    "src/jotgate/jws.py",
    "src/jotgate/jwt.py",
    "src/jotgate/cli",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is in the test extra)")
    return found


def test_ruff_finds_nothing() -> None:
    result = _run(_tool("ruff"), "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_library_is_mypy_strict_clean() -> None:
    present = [path for path in LIBRARY if (ROOT / path).exists()]
    result = _run(_tool("mypy"), "--strict", *present)
    assert result.returncode == 0, result.stdout + result.stderr
