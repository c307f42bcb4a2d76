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
# Everything under src/jotgate is held to mypy --strict: the library (layers
# 1-7) as the issue demands, and the applications because they are read as
# often as the library is.
PACKAGE = "src/jotgate"


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


def test_package_is_mypy_strict_clean() -> None:
    result = _run(_tool("mypy"), "--strict", PACKAGE)
    assert result.returncode == 0, result.stdout + result.stderr
