"""TOKEN_TRANSPORT=cookie|both: Secure, SameSite=Strict HttpOnly cookies; CSRF bound to the session.

The client talks to the app at an https base URL: httpx's cookie jar, like
any RFC 6265 client, sends ``Secure`` cookies over https only (browsers also
on http://localhost, a secure context). Where a test needs exact control it
sends the ``Cookie`` header itself.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from jotgate.server.transport import csrf_value

from .conftest import PASSWORD, Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

HTTPS = "https://testserver"
CREDENTIALS = {"username": "alice", "password": PASSWORD}
TRUSTED_PEER = "203.0.113.7"  # the test client's address (conftest)


def cookie_lines(response: httpx.Response, name: str) -> list[dict[str, str]]:
    """The response's Set-Cookie lines for ``name``, as {attribute (lower case): value}."""
    found = []
    for line in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in line.split(";")]
        key, _, value = first.partition("=")
        if key != name:
            continue
        parsed = {"": value}
        for attribute in attributes:
            k, _, v = attribute.partition("=")
            parsed[k.lower()] = v
        found.append(parsed)
    return found


def live_cookie(response: httpx.Response, name: str) -> dict[str, str]:
    """The one Set-Cookie for ``name`` that sets a value (not a deletion)."""
    lines = [c for c in cookie_lines(response, name) if c.get("max-age") != "0"]
    assert len(lines) == 1, response.headers.get_list("set-cookie")
    return lines[0]


def assert_hardened(cookie: dict[str, str], *, path: str, httponly: bool) -> None:
    assert "secure" in cookie
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == path
    assert ("httponly" in cookie) is httponly
    assert "domain" not in cookie


async def cookie_login(server: Server) -> httpx.Response:
    response = await server.client.post("/auth/login", json=CREDENTIALS)
    assert response.status_code == 200, response.text
    return response


async def session_id(server: Server, client: httpx.AsyncClient | None = None) -> str:
    me = await (client or server.client).get("/auth/me")
    assert me.status_code == 200, me.text
    sid: str = me.json()["session_id"]
    return sid


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["jotgate_csrf"]}


def second_client(server: Server, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=server.app, client=kwargs.pop("peer", ("203.0.113.9", 1)))
    return httpx.AsyncClient(transport=transport, base_url=HTTPS, **kwargs)


def cookie_settings(tmp_path: Path, **overrides: Any) -> Any:
    return test_settings(tmp_path, token_transport="cookie", **overrides)


# --- Set-Cookie attributes ------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["http://testserver", "http://localhost:8000", HTTPS])
async def test_every_cookie_is_secure_strict_and_scoped(tmp_path: Path, issuer: str) -> None:
    async with running(cookie_settings(tmp_path, issuer=issuer), base_url=HTTPS) as server:
        await server.register()
        login = await cookie_login(server)
        sid = await session_id(server)
        refreshed = await server.client.post("/auth/refresh", headers=csrf(server.client))
        assert refreshed.status_code == 200, refreshed.text
        for response in (login, refreshed):
            lifetime = str(response.json()["refresh_expires_in"])
            access = live_cookie(response, "jotgate_access")
            assert_hardened(access, path="/", httponly=True)
            refresh = live_cookie(response, "jotgate_refresh")
            assert_hardened(refresh, path="/auth/refresh", httponly=True)
            token = live_cookie(response, "jotgate_csrf")
            # Script reads it to echo it; it is the session's HMAC, not a random value.
            assert_hardened(token, path="/", httponly=False)
            assert token[""] == csrf_value(server.runtime.csrf_key, sid)
            # Every cookie of the session lives as long as its refresh token: the
            # access cookie outlives its token so that logout still finds the session.
            for cookie in (access, refresh, token):
                assert cookie["max-age"] == lifetime
            # The refresh cookie of earlier releases (Path=/auth) is cleared.
            (legacy,) = [
                c for c in cookie_lines(response, "jotgate_refresh") if c["path"] == "/auth"
            ]
            assert legacy["max-age"] == "0"


async def test_password_change_sets_the_new_sessions_cookies(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        old_sid = await session_id(server)
        change = {"current_password": PASSWORD, "new_password": PASSWORD + " 2"}
        refused = await server.client.post("/auth/password", json=change)
        assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
        changed = await server.client.post(
            "/auth/password", json=change, headers=csrf(server.client)
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["access_token"] is None
        assert_hardened(live_cookie(changed, "jotgate_access"), path="/", httponly=True)
        new_sid = await session_id(server)
        assert new_sid != old_sid
        assert live_cookie(changed, "jotgate_csrf")[""] == csrf_value(
            server.runtime.csrf_key, new_sid
        )


async def test_tokens_never_travel_in_the_body(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        responses = [await cookie_login(server)]
        responses.append(await server.client.post("/auth/refresh", headers=csrf(server.client)))
        for response in responses:
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["access_token"] is None
            assert body["refresh_token"] is None
            assert response.headers["cache-control"] == "no-store"
            for name in ("jotgate_access", "jotgate_refresh"):
                assert live_cookie(response, name)[""] not in response.text


async def test_both_transport_sets_cookies_and_returns_tokens(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, token_transport="both"), base_url=HTTPS) as server:
        tokens = await server.signup()
        assert tokens["access_token"]
        assert server.client.cookies["jotgate_access"] == tokens["access_token"]


async def test_body_transport_ignores_cookies(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path), base_url=HTTPS) as server:
        await server.signup()
        assert "jotgate_access" not in server.client.cookies
        assert (
            "set-cookie" not in (await server.client.post("/auth/login", json=CREDENTIALS)).headers
        )
        forged = {"Cookie": "jotgate_access=x; jotgate_refresh=y"}
        assert (await server.client.get("/auth/me", headers=forged)).json()["error"] == (
            "missing_token"
        )


# --- CSRF on state changes -------------------------------------------------------------


async def test_csrf_is_bound_to_the_session(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        async with second_client(server) as other:
            assert (await other.post("/auth/login", json=CREDENTIALS)).status_code == 200
            other_sid = await session_id(server, other)
            other_csrf = other.cookies["jotgate_csrf"]
        mine = server.client.cookies["jotgate_csrf"]
        assert mine != other_csrf
        # Safe methods need no header.
        assert (await server.client.get("/auth/sessions")).status_code == 200
        end_other = f"/auth/sessions/{other_sid}"
        refusals: list[list[tuple[bytes, bytes]]] = [
            [(b"x-csrf-token", value)]
            for value in (
                b"",
                other_csrf.encode(),  # another session's (genuine) value
                secrets.token_urlsafe(32).encode(),  # forged
                mine[:-1].encode(),
                mine.encode() + b"A",
                mine.encode() * 100,
                b"\xe9" + mine[1:].encode(),
            )
        ]
        refusals.append([])
        for headers in refusals:
            for method, path in (("DELETE", end_other), ("POST", "/auth/logout-all")):
                refused = await server.client.request(method, path, headers=headers)
                assert refused.status_code == 403, (headers, refused.text)
                assert refused.json()["error"] == "csrf_failed"
        # Nothing happened: the other session is alive.
        sessions = (await server.client.get("/auth/sessions")).json()
        assert other_sid in {s["id"] for s in sessions}
        ended = await server.client.delete(end_other, headers={"X-CSRF-Token": mine})
        assert ended.status_code == 204, ended.text
        sessions = (await server.client.get("/auth/sessions")).json()
        assert other_sid not in {s["id"] for s in sessions}


async def test_a_forged_cookie_token_is_refused_before_csrf(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        for value in ("forged", "a.b.c", "x" * 9000, "%00%ff"):
            answer = await server.client.post(
                "/auth/logout-all", headers={"Cookie": f"jotgate_access={value}"}
            )
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "invalid_token"


# --- refresh with cookies only ---------------------------------------------------------


async def test_refresh_works_with_cookies_only(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        sid = await session_id(server)
        async with second_client(server) as other:
            assert (await other.post("/auth/login", json=CREDENTIALS)).status_code == 200
            other_csrf = other.cookies["jotgate_csrf"]
        before = server.client.cookies["jotgate_refresh"]
        for headers in ({}, {"X-CSRF-Token": other_csrf}, {"X-CSRF-Token": "A" * 43}):
            refused = await server.client.post("/auth/refresh", headers=headers)
            assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
        # Refused before anything rotated: the same refresh token is still the live one.
        assert server.client.cookies["jotgate_refresh"] == before
        # Only the refresh cookie (the access cookie gone) and the header: enough.
        only_refresh = {"Cookie": f"jotgate_refresh={before}", **csrf(server.client)}
        async with second_client(server) as bare:
            refreshed = await bare.post("/auth/refresh", headers=only_refresh)
        assert refreshed.status_code == 200, refreshed.text
        assert live_cookie(refreshed, "jotgate_refresh")[""] != before
        assert live_cookie(refreshed, "jotgate_csrf")[""] == csrf_value(
            server.runtime.csrf_key, sid
        )
        # No reuse was detected: the session lives on with the new cookies.
        new_access = live_cookie(refreshed, "jotgate_access")[""]
        new_fgp = live_cookie(refreshed, "jotgate_fgp")[""]
        cookies = {"Cookie": f"jotgate_access={new_access}; jotgate_fgp={new_fgp}"}
        me = await server.client.get("/auth/me", headers=cookies)
        assert me.status_code == 200, me.text
        assert me.json()["session_id"] == sid


async def test_refresh_with_bad_cookies_is_a_4xx(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        header = csrf(server.client)
        for cookie in ("jotgate_refresh=unknown", "jotgate_refresh=" + "x" * 9000):
            async with second_client(server) as bare:
                answer = await bare.post("/auth/refresh", headers={"Cookie": cookie, **header})
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "invalid_refresh_token"
        async with second_client(server) as bare:
            nothing = await bare.post("/auth/refresh", headers=header)
        assert (nothing.status_code, nothing.json()["error"]) == (400, "invalid_request")


# --- logout with cookies only ----------------------------------------------------------


async def test_logout_works_with_cookies_only(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        login = await cookie_login(server)
        access = live_cookie(login, "jotgate_access")[""]
        refused = await server.client.post("/auth/logout")
        assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
        assert (await server.client.get("/auth/me")).status_code == 200  # still logged in
        out = await server.client.post("/auth/logout", headers=csrf(server.client))
        assert out.status_code == 204, out.text
        # Each cookie is deleted with the attributes it was set with.
        for name, path, httponly in (
            ("jotgate_access", "/", True),
            ("jotgate_refresh", "/auth/refresh", True),
            ("jotgate_csrf", "/", False),
        ):
            (deleted,) = [c for c in cookie_lines(out, name) if c["path"] == path]
            assert deleted["max-age"] == "0"
            assert_hardened(deleted, path=path, httponly=httponly)
        assert not server.client.cookies
        assert (await server.client.get("/auth/me")).json()["error"] == "missing_token"
        # The session is over for every copy of the token.
        revoked = await server.client.get("/auth/verify", headers=bearer(access))
        assert revoked.headers["x-auth-error"] == "token_revoked"


async def test_logout_works_after_the_access_token_expired(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        user = await server.register()
        login = await cookie_login(server)
        sid = await session_id(server)
        # The access cookie outlives its token (Max-Age is the refresh lifetime):
        # a browser still holds the expired token when the user logs out.
        assert int(live_cookie(login, "jotgate_access")["max-age"]) > 15 * 60
        issued = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
        expired, _ = await server.runtime.tokens.issue_access(
            user_id=user["id"], session_id=sid, roles=[], now=issued,
            not_after=issued + dt.timedelta(days=1),
        )  # fmt: skip
        refresh = server.client.cookies["jotgate_refresh"]
        token = server.client.cookies["jotgate_csrf"]
        async with second_client(server) as browser:
            cookies = f"jotgate_access={expired}; jotgate_csrf={token}"
            stale = await browser.get("/auth/me", headers={"Cookie": cookies})
            assert stale.json()["error"] == "token_expired"
            refused = await browser.post("/auth/logout", headers={"Cookie": cookies})
            assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
            out = await browser.post(
                "/auth/logout", headers={"Cookie": cookies, "X-CSRF-Token": token}
            )
            assert out.status_code == 204, out.text
            # The session is gone: its refresh cookie no longer works.
            again = await browser.post(
                "/auth/refresh",
                headers={"Cookie": f"jotgate_refresh={refresh}", "X-CSRF-Token": token},
            )
            assert again.status_code == 401
            assert again.json()["error"] == "token_revoked"


async def test_logout_by_the_refresh_cookie_needs_csrf_too(tmp_path: Path) -> None:
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        refresh = server.client.cookies["jotgate_refresh"]
        header = csrf(server.client)
        async with second_client(server) as client:
            cookie = {"Cookie": f"jotgate_refresh={refresh}"}
            refused = await client.post("/auth/logout", headers=cookie)
            assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
            out = await client.post("/auth/logout", headers={**cookie, **header})
            assert out.status_code == 204, out.text
            unknown = await client.post(
                "/auth/logout", headers={"Cookie": "jotgate_refresh=nope", **header}
            )
            assert unknown.status_code == 401
            empty = await client.post("/auth/logout", headers=header)
            assert (empty.status_code, empty.json()["error"]) == (401, "missing_token")
        assert (await server.client.get("/auth/me")).json()["error"] == "token_revoked"


# --- forward-auth ----------------------------------------------------------------------


async def test_forward_auth_judges_the_guarded_method(tmp_path: Path) -> None:
    settings = cookie_settings(tmp_path, trusted_proxies=f"{TRUSTED_PEER}/32")
    async with running(settings, base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        verify = server.client.request
        assert (await verify("GET", "/auth/verify")).status_code == 200
        post = await verify("POST", "/auth/verify/notes")
        assert (post.status_code, post.headers["x-auth-error"]) == (403, "csrf_failed")
        assert (
            await verify("POST", "/auth/verify", headers=csrf(server.client))
        ).status_code == 200
        # From a trusted proxy the guarded request's method is what counts.
        for name in ("X-Original-Method", "X-Forwarded-Method"):
            unsafe = await verify("GET", "/auth/verify", headers={name: "DELETE"})
            assert (unsafe.status_code, unsafe.headers["x-auth-error"]) == (403, "csrf_failed")
            safe = await verify("POST", "/auth/verify", headers={name: "GET"})
            assert safe.status_code == 200
            ok = await verify("GET", "/auth/verify", headers={name: "PUT", **csrf(server.client)})
            assert ok.status_code == 200
        async with second_client(server) as other:
            assert (await other.post("/auth/login", json=CREDENTIALS)).status_code == 200
            other_csrf = other.cookies["jotgate_csrf"]
        wrong = await verify(
            "GET", "/auth/verify", headers={"X-Original-Method": "POST", "X-CSRF-Token": other_csrf}
        )
        assert wrong.status_code == 403
        # A bearer token needs no CSRF header: browsers do not attach it by themselves.
        access = server.client.cookies["jotgate_access"]
        async with second_client(server) as api:
            fgp = server.client.cookies.get("jotgate_fgp")
            headers = {**bearer(access), "Cookie": f"jotgate_fgp={fgp}"}
            assert (await api.post("/auth/verify", headers=headers)).status_code == 200


async def test_forward_auth_csrf_judges_the_method_header_from_any_peer(tmp_path: Path) -> None:
    # Unchanged behaviour: the CSRF check reads X-Original-Method even from an
    # untrusted peer (DPoP's method/URL need a trusted one). A page cannot add
    # that header to a cross-site request without a CORS preflight anyway.
    async with running(cookie_settings(tmp_path), base_url=HTTPS) as server:
        await server.register()
        await cookie_login(server)
        answer = await server.client.get("/auth/verify", headers={"X-Original-Method": "POST"})
        assert (answer.status_code, answer.headers["x-auth-error"]) == (403, "csrf_failed")
        answer = await server.client.post("/auth/verify", headers={"X-Original-Method": "GET"})
        assert answer.status_code == 200
        for junk in ("G E T", "x" * 40, "GET1"):
            answer = await server.client.post("/auth/verify", headers={"X-Original-Method": junk})
            assert answer.status_code == 403
