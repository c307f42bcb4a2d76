"""``jotgate serve`` over a real socket, and ``jotgate user`` on the same database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jotgate.cli import main

from .conftest import PASSWORD

JOTGATE = str(Path(sys.executable).with_name("jotgate"))
RunCli = Callable[..., tuple[int, str, str]]
FAST_ARGON2 = {"JOTGATE_ARGON2_TIME_COST": "1", "JOTGATE_ARGON2_MEMORY_KIB": "64"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOTGATE_")}
    env.update(FAST_ARGON2)
    env.update(extra)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``jotgate serve --port N`` in an empty directory; yields (base URL, first output)."""
    port = free_port()
    process = subprocess.Popen(
        [JOTGATE, "serve", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        if not banner:
            process.kill()
            pytest.fail("serve exited: " + (process.stderr.read() if process.stderr else ""))
        yield f"http://127.0.0.1:{port}", banner
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_with_no_configuration_works_over_a_real_socket(
    served: tuple[str, str], tmp_path: Path
) -> None:
    base, banner = served
    assert f"listening on {base}" in banner
    assert f"{base}/docs" in banner
    assert (tmp_path / "jotgate.db").exists()
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/docs").status_code == 200
        jwks = client.get("/.well-known/jwks.json").json()
        assert jwks["keys"][0]["alg"] == "ES256"
        assert jwks["keys"][0]["crv"] == "P-256"
        created = client.post("/auth/register", json={"username": "alice", "password": PASSWORD})
        assert created.status_code == 201
        tokens = client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
        access = tokens.json()["access_token"]
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
        assert me.json()["username"] == "alice"


def test_serve_refuses_bad_settings_with_one_line_each(tmp_path: Path) -> None:
    result = subprocess.run(
        [JOTGATE, "serve", "--port", "abc"],
        cwd=tmp_path,
        env=clean_env(JOTGATE_ACCESS_TOKEN_TTL="soon", JOTGATE_SIGNING_ALG="none"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "JOTGATE_PORT='abc'" in result.stderr
    assert "JOTGATE_ACCESS_TOKEN_TTL='soon'" in result.stderr
    assert "JOTGATE_SIGNING_ALG='none'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_an_unreachable_database_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [JOTGATE, "serve", "--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/none"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot start" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def user_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> RunCli:
    for name, value in FAST_ARGON2.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JOTGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'users.db'}")

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_user_commands_manage_accounts(user_cli: RunCli) -> None:
    import json

    run = user_cli
    status, out, _ = run("user", "create", "Alice", "--role", "admin", stdin=PASSWORD + "\n")
    assert status == 0
    assert json.loads(out)["username"] == "alice"
    status, out, _ = run("user", "list")
    assert [u["username"] for u in json.loads(out)] == ["alice"]
    status, out, _ = run("user", "roles", "alice", "--add", "ops", "--remove", "admin")
    assert json.loads(out) == ["ops"]
    assert run("user", "disable", "alice")[0] == 0
    status, out, _ = run("user", "list")
    assert json.loads(out)[0]["disabled"] is True
    assert run("user", "enable", "ALICE")[0] == 0
    status, _, err = run("user", "set-password", "alice", stdin="123456\n")
    assert status == 1
    assert "weak_password" in err
    status, _, _ = run("user", "set-password", "alice", stdin="another fine passphrase\n")
    assert status == 0
    status, _, err = run("user", "disable", "nobody")
    assert status == 1
    assert "user_not_found" in err


def test_user_created_by_the_cli_can_log_in(user_cli: RunCli, tmp_path: Path) -> None:
    run = user_cli
    assert run("user", "create", "bob", stdin=PASSWORD + "\n")[0] == 0
    port = free_port()
    process = subprocess.Popen(
        [
            JOTGATE,
            "serve",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{tmp_path / 'users.db'}",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening" in process.stdout.readline()
        deadline = time.monotonic() + 10
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/auth/login",
                    json={"username": "BOB", "password": PASSWORD},
                    timeout=10,
                )
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert response is not None
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
