"""Refresh rotation, the reuse grace window, theft detection and the four cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from jotgate import jwt
from jotgate.server.models import AuditEvent, RefreshToken, Session
from jotgate.server.sessions import hash_refresh_token

from .conftest import Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

NOW = dt.datetime.now


async def refresh(server: Server, token: str, access: str | None = None) -> Any:
    headers = bearer(access) if access else {}
    return await server.client.post("/auth/refresh", json={"refresh_token": token}, headers=headers)


async def set_token(server: Server, token: str, **values: Any) -> None:
    async with server.runtime.db() as db, db.begin():
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(token))
            .values(**values)
        )


async def expired_access_token(server: Server, tokens: dict[str, Any]) -> str:
    """A genuine access token of the same session whose exp has passed."""
    claims = jwt.decode_unverified(tokens["access_token"])[1]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    token, _ = await server.runtime.tokens.issue_access(
        user_id=claims["sub"],
        session_id=claims["sid"],
        roles=[],
        now=past,
        not_after=past + dt.timedelta(days=1),
    )
    return token


async def events(server: Server, name: str) -> list[AuditEvent]:
    async with server.runtime.db() as db:
        return list((await db.scalars(select(AuditEvent).where(AuditEvent.event == name))).all())


async def test_refresh_tokens_are_stored_only_as_sha256_hashes(server: Server) -> None:
    tokens = await server.signup()
    async with server.runtime.db() as db:
        rows = (await db.scalars(select(RefreshToken))).all()
    assert [r.token_hash for r in rows] == [hash_refresh_token(tokens["refresh_token"])]
    assert tokens["refresh_token"] not in repr([r.__dict__ for r in rows])


async def test_the_same_token_within_the_grace_window_gets_the_same_successor(
    server: Server,
) -> None:
    tokens = await server.signup()
    first = await refresh(server, tokens["refresh_token"])
    second = await refresh(server, tokens["refresh_token"])
    assert first.status_code == second.status_code == 200
    assert first.json()["refresh_token"] == second.json()["refresh_token"]
    me = await server.client.get("/auth/me", headers=bearer(second.json()["access_token"]))
    assert me.status_code == 200
    # And the successor is live: it rotates normally.
    third = await refresh(server, first.json()["refresh_token"])
    assert third.status_code == 200


async def test_reused_refresh_token_after_the_grace_window_revokes_the_family(
    server: Server,
) -> None:
    tokens = await server.signup()
    first = (await refresh(server, tokens["refresh_token"])).json()
    await set_token(
        server,
        tokens["refresh_token"],
        used_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=11),
    )
    reuse = await refresh(server, tokens["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json()["error"] == "token_revoked"
    # The thief's and the victim's tokens all die: the successor and both access tokens.
    successor = await refresh(server, first["refresh_token"])
    assert successor.status_code == 401
    for access in (tokens["access_token"], first["access_token"]):
        me = await server.client.get("/auth/me", headers=bearer(access))
        assert me.json()["error"] == "token_revoked"
    detected = await events(server, "refresh_reuse_detected")
    assert len(detected) == 1
    assert detected[0].session_id == jwt.decode_unverified(first["access_token"])[1]["sid"]


async def test_reusing_a_token_whose_successor_was_already_used_is_theft(server: Server) -> None:
    tokens = await server.signup()
    first = (await refresh(server, tokens["refresh_token"])).json()
    assert (await refresh(server, first["refresh_token"])).status_code == 200
    reuse = await refresh(server, tokens["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json()["error"] == "token_revoked"


async def test_grace_data_is_wiped_when_the_successor_rotates(server: Server) -> None:
    tokens = await server.signup()
    first = (await refresh(server, tokens["refresh_token"])).json()
    await refresh(server, first["refresh_token"])
    async with server.runtime.db() as db:
        row = await db.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == hash_refresh_token(tokens["refresh_token"])
            )
        )
    assert row is not None
    assert row.successor_sealed is None


async def test_unknown_refresh_token_is_refused(server: Server) -> None:
    await server.signup()
    response = await refresh(server, "A" * 43)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_refresh_token"


async def test_case_both_expired_means_log_in_again(server: Server) -> None:
    tokens = await server.signup()
    await set_token(
        server, tokens["refresh_token"], expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1)
    )
    expired_access = await expired_access_token(server, tokens)
    me = await server.client.get("/auth/me", headers=bearer(expired_access))
    assert me.status_code == 401
    assert me.json()["error"] == "token_expired"
    response = await refresh(server, tokens["refresh_token"], expired_access)
    assert response.status_code == 401
    assert response.json()["error"] == "refresh_token_expired"


async def test_case_access_expired_means_refresh(server: Server) -> None:
    tokens = await server.signup()
    expired_access = await expired_access_token(server, tokens)
    me = await server.client.get("/auth/me", headers=bearer(expired_access))
    assert me.json()["error"] == "token_expired"
    assert me.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    response = await refresh(server, tokens["refresh_token"], expired_access)
    assert response.status_code == 200


async def test_case_refresh_expired_but_access_valid_gives_a_new_pair(server: Server) -> None:
    tokens = await server.signup()
    await set_token(
        server, tokens["refresh_token"], expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1)
    )
    without_access = await refresh(server, tokens["refresh_token"])
    assert without_access.json()["error"] == "refresh_token_expired"
    response = await refresh(server, tokens["refresh_token"], tokens["access_token"])
    assert response.status_code == 200, response.text
    me = await server.client.get("/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200


async def test_expired_refresh_with_another_sessions_access_token_is_refused(
    server: Server,
) -> None:
    tokens = await server.signup()
    other = await server.login()
    await set_token(
        server, tokens["refresh_token"], expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1)
    )
    response = await refresh(server, tokens["refresh_token"], other["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "refresh_token_expired"


async def test_tokens_never_outlive_the_sessions_absolute_cap(server: Server) -> None:
    tokens = await server.signup()
    sid = jwt.decode_unverified(tokens["access_token"])[1]["sid"]
    cap = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    async with server.runtime.db() as db, db.begin():
        await db.execute(update(Session).where(Session.id == sid).values(expires_at=cap))
    fresh = (await refresh(server, tokens["refresh_token"])).json()
    assert fresh["refresh_expires_in"] <= 120
    assert fresh["expires_in"] <= 120
    assert jwt.decode_unverified(fresh["access_token"])[1]["exp"] <= cap.timestamp()


async def test_a_session_past_its_absolute_cap_cannot_refresh(server: Server) -> None:
    tokens = await server.signup()
    sid = jwt.decode_unverified(tokens["access_token"])[1]["sid"]
    async with server.runtime.db() as db, db.begin():
        await db.execute(
            update(Session)
            .where(Session.id == sid)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    response = await refresh(server, tokens["refresh_token"], tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "session_expired"


async def test_case_both_valid_proceeds(server: Server) -> None:
    tokens = await server.signup()
    me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200


async def test_refresh_and_login_are_audited(server: Server) -> None:
    tokens = await server.signup()
    await refresh(server, tokens["refresh_token"])
    await server.client.post("/auth/login", json={"username": "alice", "password": "nope-nope"})
    assert len(await events(server, "login_succeeded")) == 1
    assert len(await events(server, "refresh")) == 1
    failed = await events(server, "login_failed")
    assert len(failed) == 1
    assert failed[0].ip == "203.0.113.7"


async def test_refresh_after_the_key_cache_aged_does_not_stall_on_sqlite(tmp_path: Path) -> None:
    import asyncio

    from jotgate.server.keystore import KeyStore

    settings = test_settings(tmp_path, access_token_encryption="dir")
    async with running(settings) as server:
        tokens = await server.signup()
        # As if the server had been idle for longer than RELOAD_SECONDS: the
        # next key lookup of either store reloads from the database.
        for store in (server.runtime.keys, server.runtime.encryption):
            assert isinstance(store, KeyStore)
            store._loaded_at = 0.0
        refreshed = await asyncio.wait_for(
            server.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
            timeout=10,
        )
        assert refreshed.status_code == 200
