"""Security events are stored: logins, refresh, logout, password change, disable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jotgate.server.models import AuditEvent

from .conftest import PASSWORD, Server, bearer

pytestmark = pytest.mark.anyio


async def test_the_account_lifecycle_leaves_an_audit_trail(server: Server) -> None:
    registered = await server.register()
    tokens = await server.login()
    await server.client.post("/auth/login", json={"username": "alice", "password": "wrong one!"})
    await server.client.post("/auth/login", json={"username": "ghost", "password": "wrong one!"})
    await server.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    changed = await server.client.post(
        "/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a different passphrase"},
    )
    fresh = changed.json()
    await server.client.post("/auth/logout", headers=bearer(fresh["access_token"]))
    await server.runtime.users.set_disabled(registered["id"], True)
    async with server.runtime.db() as db:
        rows = (await db.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    assert [r.event for r in rows] == [
        "user_registered",
        "login_succeeded",
        "login_failed",
        "login_failed",
        "refresh",
        "password_changed",
        "login_succeeded",
        "logout",
        "user_disabled",
    ]
    assert all(r.user_id == registered["id"] for r in rows if r.event != "login_failed")
    assert rows[3].user_id is None
    assert rows[3].detail["username"] == "ghost"
    everything = repr([(r.detail, r.user_agent) for r in rows])
    for secret in (PASSWORD, "wrong one!", tokens["refresh_token"], tokens["access_token"]):
        assert secret not in everything
