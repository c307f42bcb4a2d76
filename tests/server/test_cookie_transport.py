"""TOKEN_TRANSPORT=cookie|both: HttpOnly cookies, double-submit CSRF on state changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PASSWORD, running, test_settings

pytestmark = pytest.mark.anyio


async def test_cookie_transport_keeps_tokens_out_of_the_body(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, token_transport="cookie")) as server:
        await server.register()
        login = await server.client.post(
            "/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert login.status_code == 200
        body = login.json()
        assert body["access_token"] is None
        assert body["refresh_token"] is None
        set_cookie = login.headers.get_list("set-cookie")
        access = next(c for c in set_cookie if c.startswith("jotgate_access="))
        refresh = next(c for c in set_cookie if c.startswith("jotgate_refresh="))
        assert "HttpOnly" in access
        assert "HttpOnly" in refresh
        assert "Path=/auth" in refresh
        # Reads work with the cookie alone.
        me = await server.client.get("/auth/me")
        assert me.status_code == 200
        # A state change without the CSRF header is refused; with it, it works.
        refused = await server.client.post("/auth/refresh")
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_failed"
        csrf = server.client.cookies["jotgate_csrf"]
        refreshed = await server.client.post("/auth/refresh", headers={"X-CSRF-Token": csrf})
        assert refreshed.status_code == 200, refreshed.text
        csrf = server.client.cookies["jotgate_csrf"]
        out = await server.client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        server.client.cookies.clear()
        assert (await server.client.get("/auth/me")).json()["error"] == "missing_token"


async def test_both_transport_sets_cookies_and_returns_tokens(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, token_transport="both")) as server:
        tokens = await server.signup()
        assert tokens["access_token"]
        assert "jotgate_access" in server.client.cookies


async def test_body_transport_ignores_cookies(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as server:
        await server.signup()
        assert "jotgate_access" not in server.client.cookies
        assert (await server.client.get("/auth/me")).json()["error"] == "missing_token"
