"""``jotgate serve``: a flag for every setting, and a quiet, single start-up."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess

import httpx
import pytest

from jotgate.cli.serve import ENV_ONLY, add_settings_flags, server_settings
from jotgate.server import Settings

from .test_cli import JOTGATE, clean_env, free_port


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_flags(parser)
    return parser.parse_args(list(argv))


def test_every_setting_but_the_secret_ones_has_a_flag() -> None:
    flags = {name.removeprefix("setting_") for name in vars(parse())}
    settings = {f.name for f in dataclasses.fields(Settings)}
    assert settings - flags == ENV_ONLY
    assert flags <= settings


def test_flags_for_newer_settings_override_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOTGATE_LOGIN_ACCOUNT_THRESHOLD", "9")
    args = parse(
        "--login-account-threshold", "3",
        "--trusted-proxies", "10.0.0.0/8,192.0.2.1",
        "--key-activation-delay", "30m",
        "--migrate", "false",
        "--denylist-cache-seconds", "0.5",
    )  # fmt: skip
    settings = server_settings(args)
    assert settings.login_account_threshold == 3
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert settings.key_activation_delay == 1800
    assert settings.migrate is False
    assert settings.denylist_cache_seconds == 0.5


def test_there_is_no_flag_for_secrets() -> None:
    with pytest.raises(SystemExit):
        parse("--secret", "a long operator secret value")


def test_serve_starts_once_warns_once_and_keeps_alembic_quiet(tmp_path: object) -> None:
    port = free_port()
    process = subprocess.Popen(
        [JOTGATE, "serve", "--port", str(port)],
        cwd=str(tmp_path),
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening" in process.stdout.readline()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert err.count("JOTGATE_SECRET is not set") == 1
    assert err.count("argon2 parameters are below") == 1
    assert err.count("database schema upgraded from empty to revision") == 1
    assert "Context impl" not in err
    assert "Will assume" not in err
    assert "Running upgrade" not in err
