"""Signing keys: every supported algorithm, sealing with SECRET, rotation, JWKS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from jotgate import errors, jwk, jwt
from jotgate.server.keystore import KeyStoreError
from jotgate.server.models import AuditEvent, SigningKey

from .conftest import bearer, running, test_settings

pytestmark = pytest.mark.anyio

SECRET = "an operator secret of decent length"


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA", "HS256"])
async def test_every_signing_algorithm_issues_working_tokens(tmp_path: Path, alg: str) -> None:
    async with running(test_settings(tmp_path, signing_alg=alg)) as server:
        tokens = await server.signup()
        header, _ = jwt.decode_unverified(tokens["access_token"])
        assert header["alg"] == alg
        me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200
        published = (await server.client.get("/.well-known/jwks.json")).json()
        if alg == "HS256":
            assert published == {"keys": []}  # a shared secret is never published
        else:
            assert [k["kid"] for k in published["keys"]] == [header["kid"]]


async def test_private_keys_are_sealed_when_secret_is_set(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, secret=SECRET)) as server:
        async with server.runtime.db() as db:
            row = await db.scalar(select(SigningKey))
        assert row is not None
        assert row.encrypted
        assert b'"d"' not in row.private_jwk
        with pytest.raises(errors.JoseError):
            jwk.Key.from_jwk(row.private_jwk)


async def test_without_secret_keys_are_stored_plain_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(test_settings(tmp_path)) as server:
        async with server.runtime.db() as db:
            row = await db.scalar(select(SigningKey))
        assert row is not None
        assert not row.encrypted
    assert "JOTGATE_SECRET is not set" in caplog.text


async def test_sealed_keys_need_the_same_secret_to_start(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, secret=SECRET)) as server:
        tokens = await server.signup()
    with pytest.raises(KeyStoreError, match="JOTGATE_SECRET"):
        async with running(test_settings(tmp_path)):
            pass
    with pytest.raises(KeyStoreError, match="does not open"):
        async with running(test_settings(tmp_path, secret="another secret, also long")):
            pass
    async with running(test_settings(tmp_path, secret=SECRET)) as server:
        me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200


async def test_the_key_survives_restarts(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as server:
        tokens = await server.signup()
        first = (await server.client.get("/.well-known/jwks.json")).json()
    async with running(test_settings(tmp_path)) as server:
        assert (await server.client.get("/.well-known/jwks.json")).json() == first
        me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200


async def test_rotation_keeps_old_tokens_valid_and_is_audited(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as server:
        old = await server.signup()
        kid = await server.runtime.keys.rotate()
        published = (await server.client.get("/.well-known/jwks.json")).json()
        assert len(published["keys"]) == 2
        new = await server.login()
        assert jwt.decode_unverified(new["access_token"])[0]["kid"] == kid
        for tokens in (old, new):
            me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
            assert me.status_code == 200
        async with server.runtime.db() as db:
            events = (await db.scalars(select(AuditEvent.event))).all()
        assert "key_rotated" in events


async def test_a_key_rotated_by_another_server_is_picked_up_on_unknown_kid(
    tmp_path: Path,
) -> None:
    settings = test_settings(tmp_path)
    async with running(settings) as first, running(settings) as second:
        await first.register()
        await second.runtime.keys.rotate()
        tokens = await second.login()
        me = await first.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200
