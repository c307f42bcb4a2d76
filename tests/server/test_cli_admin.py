"""``jotgate keys rotate|list`` and ``jotgate audit`` on a real server's database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from jotgate import jwt
from jotgate.cli import main

from .conftest import PASSWORD, Server, running, test_settings

pytestmark = pytest.mark.anyio
RunCli = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(test_settings(tmp_path)) as srv:
        yield srv


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> RunCli:
    """``jotgate ...`` in-process, on the server fixture's database."""
    for name in [n for n in os.environ if n.startswith("JOTGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JOTGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'auth.db'}")

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["jotgate", *argv])
        # The command runs its own event loop, so off this test's loop.
        status = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


async def test_keys_list_shows_the_signing_key(server: Server, cli: RunCli) -> None:
    tokens = await server.signup()
    kid = jwt.decode_unverified(tokens["access_token"])[0]["kid"]
    status, out, _ = await cli("keys", "list", "--json")
    assert status == 0
    rows: list[dict[str, Any]] = json.loads(out)
    assert [(r["kid"], r["alg"], r["state"], r["retires_at"]) for r in rows] == [
        (kid, "ES256", "active", None)
    ]
    status, out, _ = await cli("keys", "list")
    assert out.splitlines()[0].split() == ["KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES"]
    assert kid in out
    assert "active" in out


async def test_keys_rotate_publishes_now_and_signs_later(server: Server, cli: RunCli) -> None:
    await server.register()
    old_kid = jwt.decode_unverified((await server.login())["access_token"])[0]["kid"]
    status, out, err = await cli("keys", "rotate", "--activate-after", "1h")
    assert status == 0, err
    new = json.loads(out)
    assert new["state"] == "pending"
    assert "signs from" in err
    published = (await server.client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in published["keys"]} == {old_kid, new["kid"]}
    still = jwt.decode_unverified((await server.login())["access_token"])[0]["kid"]
    assert still == old_kid
    status, out, _ = await cli("keys", "list", "--json")
    states = {r["kid"]: r["state"] for r in json.loads(out)}
    assert states == {old_kid: "active", new["kid"]: "pending"}


async def test_keys_rotate_with_no_delay_signs_at_once(server: Server, cli: RunCli) -> None:
    await server.register()
    status, out, _ = await cli("keys", "rotate", "--activate-after", "0")
    assert status == 0
    kid = json.loads(out)["kid"]
    await server.runtime.keys.reload()  # what a server does within a minute by itself
    assert jwt.decode_unverified((await server.login())["access_token"])[0]["kid"] == kid


async def test_rotation_refuses_a_secret_that_differs_from_the_servers(
    tmp_path: Path, cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(test_settings(tmp_path, secret="the servers own secret")):
        pass
    status, _, err = await cli("keys", "rotate")
    assert status == 1
    assert "JOTGATE_SECRET" in err
    monkeypatch.setenv("JOTGATE_SECRET", "the servers own secret")
    assert (await cli("keys", "rotate"))[0] == 0


@pytest.mark.parametrize("value", ["soon", "-5"])
async def test_rotate_refuses_bad_delays(server: Server, cli: RunCli, value: str) -> None:
    status, _, err = await cli("keys", "rotate", f"--activate-after={value}")
    assert status == 2
    assert "--activate-after" in err


async def test_audit_filters_by_user_type_and_time(server: Server, cli: RunCli) -> None:
    await server.register()
    await server.register("bob")
    await server.login()
    for _ in range(2):
        await server.client.post("/auth/login", json={"username": "alice", "password": "nope!"})
    status, out, _ = await cli("audit", "--user", "ALICE", "--type", "login_failed", "--json")
    assert status == 0
    rows = json.loads(out)
    assert [r["event"] for r in rows] == ["login_failed", "login_failed"]
    assert all(r["username"] == "alice" for r in rows)
    status, out, _ = await cli(
        "audit", "--since", "1h", "--type", "user_registered", "--type", "login_succeeded"
    )
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == [
        "login_succeeded",
        "user_registered",
        "user_registered",
    ]
    assert "user=bob" in lines[1]
    assert (await cli("audit", "--since", "2999-01-01T00:00:00Z"))[1] == ""
    assert PASSWORD not in (await cli("audit", "--json"))[1]


@pytest.mark.parametrize(
    ("argv", "status", "text"),
    [
        (("audit", "--type", "nonsense"), 2, "unknown event type"),
        (("audit", "--since", "yesterday-ish"), 2, "--since"),
        (("audit", "--user", "ghost"), 1, "no user"),
        (("audit", "--limit", "0"), 2, "--limit"),
    ],
)
async def test_audit_refuses_bad_filters(
    server: Server, cli: RunCli, argv: tuple[str, ...], status: int, text: str
) -> None:
    got, _, err = await cli(*argv)
    assert got == status
    assert text in err


async def test_encryption_keys_rotate_list_and_export_for_verifiers(
    tmp_path: Path, cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jotgate import jwk

    monkeypatch.setenv("JOTGATE_ACCESS_TOKEN_ENCRYPTION", "ECDH-ES+A256KW")
    settings = test_settings(tmp_path, access_token_encryption="ECDH-ES+A256KW")
    async with running(settings) as server:
        tokens = await server.signup()
        status, out, err = await cli("keys", "rotate", "--use", "enc", "--activate-after", "1h")
        assert status == 0, err
        new_kid = json.loads(out)["kid"]
        status, out, _ = await cli("keys", "list", "--use", "enc", "--json")
        assert {r["state"] for r in json.loads(out)} == {"active", "pending"}
        target = tmp_path / "decrypt.jwks"
        status, _, err = await cli(
            "keys", "export", "--use", "enc", "--private", "--out", str(target)
        )
        assert status == 0, err
        assert target.stat().st_mode & 0o777 == 0o600
        exported = jwk.KeySet.from_jwks(target.read_text())
        assert new_kid in {k.kid for k in exported}
        assert all(k.is_private and k.use == "enc" for k in exported)
        # What a verifier does with it: decrypt, then verify against the public JWKS.
        published = (await server.client.get("/.well-known/jwks.json")).json()
        claims = jwt.decode(
            tokens["access_token"],
            jwk.KeySet.from_jwks(published),
            algorithms=["ES256"],
            decrypt_with=exported,
            decrypt_algorithms=["ECDH-ES+A256KW"],
            encryptions=["A256GCM"],
            audience=settings.audience,
            issuer=settings.issuer,
        )
        assert claims["sid"]
        status, _, err = await cli("keys", "export", "--private", "--out", str(tmp_path / "x"))
        assert status == 2
        assert "never leave" in err
        assert not (tmp_path / "x").exists()
        status, _, err = await cli(
            "keys", "export", "--use", "enc", "--private", "--out", str(target)
        )
        assert status == 1
        assert "refusing to overwrite" in err


async def test_encryption_key_commands_explain_when_encryption_is_off(
    server: Server, cli: RunCli
) -> None:
    status, _, err = await cli("keys", "rotate", "--use", "enc")
    assert status == 2
    assert "JOTGATE_ACCESS_TOKEN_ENCRYPTION" in err
