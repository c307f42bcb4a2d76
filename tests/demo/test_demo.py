"""``jotgate demo``: the self-test passes, pasted curl commands work, Ctrl-C cleans up.

Each test runs the demo in a subprocess, as a user would, so signal handling,
the temporary data directory and the process's exit status are real.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the demo needs the server extra")
pytest.importorskip("httpx", reason="the demo needs the server extra")

# `python -c` rather than the installed script: the test runs whatever
# interpreter (and checkout) pytest runs.
_CLI = "import sys; from jotgate.cli import main; sys.exit(main(sys.argv[1:]))"


def _demo(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", _CLI, "--color", "never", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def _data_dir(text: str) -> Path:
    match = re.search(r"data in (\S+) \(removed on exit\)", text)
    assert match, text
    return Path(match.group(1))


def test_self_test_runs_every_step() -> None:
    process = _demo("--run", "--access-ttl", "2s")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    steps = [line for line in out.splitlines() if re.match(r"\s+(ok|FAIL)\s+\d+\.", line)]
    assert len(steps) == 11, out
    assert all(line.split()[0] == "ok" for line in steps), out
    assert re.search(r"token past its exp\s+401 token_expired", out), out
    logout = re.search(r"after log out\s+401 token_revoked after ([0-9.]+) s", out)
    assert logout, out
    assert float(logout.group(1)) <= 1.0
    assert "all 11 steps behaved" in out
    assert not _data_dir(out).exists()


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl")), reason="bash and curl")
def test_printed_commands_work_when_pasted_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    # Long enough that the refreshed token is still unexpired a second after
    # the logout (step 8 sleeps 1 s), so the refusal seen is the logout's.
    process = _demo("--access-ttl", "4s")
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        # The banner and walk-through are printed once everything listens.
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        assert "Press Ctrl-C" in text, text
        start = text.index("# 0.")
        script = tmp_path / "walk.sh"
        script.write_text(text[start : text.index("Press Ctrl-C")])
        pasted = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=60, check=False
        )
        seen = pasted.stdout
        assert pasted.returncode == 0, seen + pasted.stderr
        # In order: register, public (no identity), no token, with token,
        # expired, refreshed call, logout, revoked, dead refresh token.
        expected = [
            r'"username":"alice"',
            r'"identity": \{\}',
            r"HTTP/1.1 401.*?missing_token",
            r'"x-user-id": "[0-9a-f-]{36}"',
            r"HTTP/1.1 401.*?token_expired",
            r'"x-user-id": "[0-9a-f-]{36}"',
            r"HTTP/1.1 204",
            r"HTTP/1.1 401.*?token_revoked",
            r'"error":"token_revoked"',
        ]
        position = 0
        for pattern in expected:
            match = re.compile(pattern, re.S).search(seen, position)
            assert match, f"{pattern!r} not found after offset {position}:\n{seen}"
            position = match.end()
        data_dir = _data_dir(text)
        assert data_dir.exists()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    assert "stopping" in out
    assert not data_dir.exists()


def test_port_base_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _demo("--port-base", str(port))
        out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out + err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("ttl", ["soon", "0s", "1.5s"])
def test_bad_access_ttl_is_a_usage_error(ttl: str) -> None:
    process = _demo("--access-ttl", ttl)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, out + err
    assert "--access-ttl" in err
