"""The token sidejacking fingerprint (OWASP JWT cheat sheet) and IP / user-agent binding."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest

from jotgate import jwt

from .conftest import PASSWORD, Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

PEER = "203.0.113.7"  # the test client's address (conftest)
CREDENTIALS = {"username": "alice", "password": PASSWORD}


def sha256_b64(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()


def set_cookie(response: httpx.Response, name: str) -> str:
    lines = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert len(lines) == 1, response.headers.get_list("set-cookie")
    return lines[0]


async def test_cookie_mode_binds_tokens_to_a_hardened_fingerprint_cookie(tmp_path: Path) -> None:
    # https: the access cookie is Secure, which the client's jar sends over https only.
    settings = test_settings(tmp_path, token_transport="cookie")
    async with running(settings, base_url="https://testserver") as server:
        await server.register()
        login = await server.client.post("/auth/login", json=CREDENTIALS)
        header = set_cookie(login, "jotgate_fgp").lower()
        for attribute in ("httponly", "samesite=strict", "path=/"):
            assert attribute in header
        fingerprint = server.client.cookies["jotgate_fgp"]
        access = server.client.cookies["jotgate_access"]
        assert jwt.decode_unverified(access)[1]["fgp"] == sha256_b64(fingerprint)
        assert (await server.client.get("/auth/me")).status_code == 200
        assert (await server.client.get("/auth/verify")).status_code == 200
        # The access cookie lifted into another client, without the fingerprint:
        server.client.cookies.delete("jotgate_fgp")
        for path in ("/auth/me", "/auth/verify"):
            stolen = await server.client.get(path)
            assert stolen.status_code == 401
            assert stolen.json()["error"] == "invalid_token"
        server.client.cookies.set("jotgate_fgp", "a" * 43)
        assert (await server.client.get("/auth/me")).status_code == 401


async def test_https_issuers_get_the_host_prefix_and_secure(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, issuer="https://auth.example.com", token_fingerprint="on")
    async with running(settings) as server:
        await server.register()
        login = await server.client.post("/auth/login", json=CREDENTIALS)
        header = set_cookie(login, "__Host-Fgp").lower()
        assert "secure" in header
        assert "domain=" not in header


async def test_body_mode_with_fingerprint_on_needs_the_cookie_too(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, token_fingerprint="on")) as server:
        await server.register()
        tokens = await server.login()
        assert "fgp" in jwt.decode_unverified(tokens["access_token"])[1]
        auth = bearer(tokens["access_token"])
        assert (await server.client.get("/auth/me", headers=auth)).status_code == 200
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=server.app), base_url="http://testserver"
        ) as thief:
            answer = await thief.get("/auth/me", headers=auth)
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token")


async def test_refresh_rotates_the_fingerprint(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, token_fingerprint="on")) as server:
        await server.register()
        tokens = await server.login()
        first = server.client.cookies["jotgate_fgp"]
        refreshed = await server.client.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        second = server.client.cookies["jotgate_fgp"]
        assert second != first
        new = refreshed.json()["access_token"]
        assert jwt.decode_unverified(new)[1]["fgp"] == sha256_b64(second)
        assert (await server.client.get("/auth/me", headers=bearer(new))).status_code == 200
        # The replaced token's fingerprint is gone from the browser.
        old = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert old.status_code == 401
        logout = await server.client.post("/auth/logout", headers=bearer(new))
        assert 'jotgate_fgp=""' in set_cookie(logout, "jotgate_fgp")


async def test_auto_is_off_in_body_mode_and_oauth_never_binds(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path)) as server:
        tokens = await server.signup()
        assert "fgp" not in jwt.decode_unverified(tokens["access_token"])[1]
        assert "jotgate_fgp" not in server.client.cookies
    async with running(test_settings(tmp_path, token_fingerprint="on")) as server:
        form = {"grant_type": "password", **CREDENTIALS}
        answer = await server.client.post("/auth/token", data=form)
        assert "fgp" not in jwt.decode_unverified(answer.json()["access_token"])[1]
        assert "set-cookie" not in answer.headers


async def test_ip_binding_refuses_the_token_from_another_address(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, bind_tokens="ip", trusted_proxies=f"{PEER}/32")
    async with running(settings) as server:
        await server.register()
        home = {"X-Forwarded-For": "198.51.100.1"}
        login = await server.client.post("/auth/login", json=CREDENTIALS, headers=home)
        token = login.json()["access_token"]
        assert "198.51.100.1" not in str(jwt.decode_unverified(token)[1])  # hashed
        for path in ("/auth/me", "/auth/verify"):
            ok = await server.client.get(path, headers={**bearer(token), **home})
            assert ok.status_code == 200
            away = {**bearer(token), "X-Forwarded-For": "198.51.100.2"}
            moved = await server.client.get(path, headers=away)
            assert (moved.status_code, moved.json()["error"]) == (401, "invalid_token")


async def test_user_agent_binding(tmp_path: Path) -> None:
    async with running(test_settings(tmp_path, bind_tokens="user-agent")) as server:
        tokens = await server.signup()
        auth = bearer(tokens["access_token"])
        assert (await server.client.get("/auth/me", headers=auth)).status_code == 200
        other = await server.client.get("/auth/me", headers={**auth, "User-Agent": "curl/8"})
        assert (other.status_code, other.json()["error"]) == (401, "invalid_token")


async def test_binding_off_adds_no_claim(server: Server) -> None:
    tokens = await server.signup()
    assert "bnd" not in jwt.decode_unverified(tokens["access_token"])[1]
