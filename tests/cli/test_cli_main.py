"""The ``jotgate`` program as a whole: registration, exit codes, colour, the real script."""

from __future__ import annotations

import argparse
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from jotgate.cli import build_parser, main
from jotgate.cli._output import Console
from jotgate.cli._registry import Commands

from .conftest import Run

_JOTGATE = Path(sys.executable).parent / "jotgate"


def _top_level_commands() -> list[str]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    # Aliases share the parser of the command they name; list each parser once.
    seen: dict[int, str] = {}
    for name, sub in action.choices.items():
        seen.setdefault(id(sub), name)
    return list(seen.values())


def test_help_lists_every_command(run: Run) -> None:
    # A group module may add a top-level command or extend another's group
    # (keys_admin adds `keys rotate`), so check commands, not module names.
    result = run("--help")
    assert result.status == 0
    commands = _top_level_commands()
    assert {"keys", "token", "serve", "gateway", "demo"} <= set(commands)
    for command in commands:
        assert f"    {command}" in result.out


@pytest.mark.parametrize(
    "argv", [[], ["keys"], ["token"], ["nope"], ["token", "decode"], ["keys", "generate"]]
)
def test_incomplete_or_unknown_commands_are_usage_errors(run: Run, argv: list[str]) -> None:
    result = run(*argv)
    assert result.status == 2
    assert "usage: jotgate" in result.err


def test_version(run: Run) -> None:
    result = run("--version")
    assert (result.status, result.out.split()[0]) == (0, "jotgate")


def test_a_later_module_can_add_a_command_to_an_existing_group() -> None:
    # What the server's "keys rotate" does: ask for the group again, add a command.
    parser = argparse.ArgumentParser(prog="jotgate")
    commands = Commands(parser)
    keys = commands.group("keys", help="keys")
    keys.command("generate", help="g", handler=lambda args, console: 10)
    again = commands.group("keys", help="ignored the second time")
    rotate = again.command("rotate", help="r", handler=lambda args, console: 11)
    rotate.add_argument("--grace", default="1h")
    commands.command("serve", help="s", handler=lambda args, console: 12)
    console = Console(sys.stdout, sys.stderr)

    for argv, status in ((["keys", "generate"], 10), (["keys", "rotate"], 11), (["serve"], 12)):
        args = parser.parse_args(argv)
        assert args.handler(args, console) == status
    assert parser.parse_args(["keys", "rotate", "--grace", "2h"]).grace == "2h"


def test_color_option_is_accepted_before_or_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["--color", "never", "token", "decode", "t"]).color == "never"
    assert parser.parse_args(["token", "decode", "t", "--color", "always"]).color == "always"
    assert parser.parse_args(["token", "decode", "t"]).color == "auto"


def test_no_traceback_for_a_directory_as_key_file(run: Run, tmp_path: Path) -> None:
    result = run("keys", "public", str(tmp_path))
    assert result.status == 1
    assert result.err.startswith("jotgate: error: cannot read key file")
    assert result.err.count("\n") == 1


def test_no_traceback_for_an_oversized_key_file(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "huge"
    path.write_bytes(b"{" + b" " * (2 << 20))
    result = run("keys", "public", str(path))
    assert result.status == 1
    assert "larger than" in result.err


def test_main_reads_sys_argv_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["jotgate", "keys", "generate", "--alg", "ES256"])
    assert main() == 2  # no --out: refused, proving these arguments were the ones read


def test_the_console_script_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": ""}
    gen = subprocess.run(
        [_JOTGATE, "keys", "generate", "--alg", "EdDSA", "--out", "k.jwk"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert gen.returncode == 0, gen.stderr
    enc = subprocess.run(
        [_JOTGATE, "token", "encode", "--key", "k.jwk", "--sub", "u", "--expires-in", "5m"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert enc.returncode == 0, enc.stderr
    ok = subprocess.run(
        [_JOTGATE, "token", "verify", "-", "--key", "k.jwk", "--alg", "EdDSA"],
        input=enc.stdout,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert (ok.returncode, '"sub": "u"' in ok.stdout) == (0, True)
    bad = subprocess.run(
        [
            _JOTGATE,
            "token",
            "verify",
            enc.stdout.strip()[:-4] + "AAAA",
            "--key",
            "k.jwk",
            "--alg",
            "EdDSA",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("jotgate: error: invalid_signature:")


def test_the_command_line_imports_no_server_dependencies() -> None:
    # A core-only install has no FastAPI: building the parser (which imports
    # every command group) must not need it.
    heavy = (
        "fastapi",
        "starlette",
        "sqlalchemy",
        "uvicorn",
        "alembic",
        "redis",
        "asyncpg",
        "argon2",
        "httpx",
        "jotgate.server",
        "jotgate.gateway",
        "jotgate.middleware",
    )
    code = (
        "import sys\n"
        "from jotgate.cli import build_parser\n"
        "build_parser().parse_args(['keys', 'public', 'x'])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
        f"or m.startswith({heavy!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _on_a_terminal(*argv: str, env: dict[str, str]) -> str:
    """Run the real script with stdout on a pseudo-terminal; return what it showed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [_JOTGATE, *argv],
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=env,
            check=False,
            timeout=60,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color_is_set() -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.AAAA"
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    coloured = _on_a_terminal("token", "decode", token, env={**base, "TERM": "xterm"})
    assert "\033[" in coloured
    assert "NOT VERIFIED" in coloured
    plain = _on_a_terminal("token", "decode", token, env={**base, "TERM": "xterm", "NO_COLOR": "1"})
    assert "\033[" not in plain
    assert "NOT VERIFIED" in plain
