"""Fingerprint cookie (``fgp``) and address/user-agent binding (``bnd``) at the gateway.

First with tokens the stand-in signs carrying those claims, then end to end
with the real auth server (``TOKEN_TRANSPORT=cookie``, ``TOKEN_FINGERPRINT=on``,
``BIND_TOKENS`` = ``user-agent`` or ``ip``) behind the gateway: a token
without its cookie, from another user agent or from another address is 401
``invalid_token`` on required routes and at ``/_jotgate/verify``, and the
fingerprint cookie never reaches a service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jotgate.gateway import SettingsError, load
from jotgate.gateway.headers import Forwarding, HeaderPolicy
from jotgate.middleware.client_binding import digest

from .conftest import GatewayFactory, Served, start_gateway
from .servers import AuthStandIn, ServerThread, header_values

FINGERPRINT = "fingerprint-value-0123456789-abcdefghijklmnopq"
UA = "GatewayBindingTest/1.0"
PASSWORD = "correct horse battery staple"
ISSUER = "http://jotgate-auth.test"


def _headers(token: str, *, cookie: str | None = None, ua: str = UA, **more: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": ua, **more}
    if cookie is not None:
        headers["Cookie"] = cookie
    return headers


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert "bound to another client" in response.json()["message"]


def test_fingerprint_on_required_routes_and_forward_auth(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(fgp=digest(FINGERPRINT))
    cookie = f"theme=dark; jotgate_fgp={FINGERPRINT}; lang=en"
    echo = client.get("/api/notes", headers=_headers(token, cookie=cookie))
    assert echo.status_code == 200, echo.text
    # Services get the other cookies, never the fingerprint (nor the token).
    assert header_values(echo.json(), "cookie") == ["theme=dark; lang=en"]
    assert header_values(echo.json(), "authorization") == []
    _refused(client.get("/api/notes", headers=_headers(token)))
    _refused(client.get("/api/notes", headers=_headers(token, cookie="jotgate_fgp=" + "x" * 43)))
    assert client.get("/_jotgate/verify", headers=_headers(token, cookie=cookie)).status_code == 200
    check = client.get("/_jotgate/verify", headers=_headers(token, cookie="theme=dark"))
    _refused(check)
    assert check.headers["x-auth-error"] == "invalid_token"
    # Only a fingerprint: the Cookie header goes away entirely.
    only = client.get("/api/notes", headers=_headers(token, cookie=f"__Host-Fgp={FINGERPRINT}"))
    assert header_values(only.json(), "cookie") == []
    # A route that keeps Authorization keeps the cookie too.
    kept = client.get("/keep/x", headers=_headers(token, cookie=cookie))
    assert header_values(kept.json(), "cookie") == [cookie]


def test_user_agent_binding(client: httpx.Client, stand_in: AuthStandIn) -> None:
    token = stand_in.token(bnd=digest("ua:" + UA))
    assert client.get("/api/notes", headers=_headers(token)).status_code == 200
    _refused(client.get("/api/notes", headers=_headers(token, ua="curl/8.5.0")))
    _refused(client.get("/_jotgate/verify", headers=_headers(token, ua="curl/8.5.0")))


def test_address_binding_uses_forwarded_addresses_only_when_trusted(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(bnd=digest("ip:198.51.100.7"))
    at_home = stand_in.token(bnd=digest("ip:127.0.0.1"))
    untrusted = make_gateway([f"/api={upstream.url}"])
    trusted = make_gateway([f"/api={upstream.url}"], trust_forwarded=True)
    xff = {"X-Forwarded-For": "198.51.100.7"}
    with httpx.Client(base_url=untrusted.url, timeout=10) as c:
        assert c.get("/api/x", headers=_headers(at_home)).status_code == 200
        _refused(c.get("/api/x", headers=_headers(token, **xff)))  # a client's claim
        _refused(c.get("/_jotgate/verify", headers=_headers(token, **xff)))
    with httpx.Client(base_url=trusted.url, timeout=10) as c:
        assert c.get("/api/x", headers=_headers(token, **xff)).status_code == 200
        # nginx: $proxy_add_x_forwarded_for appends what it saw; the right-most counts.
        chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
        assert c.get("/_jotgate/verify", headers=_headers(token, **chain)).status_code == 200
        spoofed = {"X-Forwarded-For": "198.51.100.7, 6.6.6.6"}
        _refused(c.get("/_jotgate/verify", headers=_headers(token, **spoofed)))
        real_ip = {"X-Real-IP": "198.51.100.7"}
        assert c.get("/_jotgate/verify", headers=_headers(token, **real_ip)).status_code == 200
        _refused(c.get("/_jotgate/verify", headers=_headers(at_home, **xff)))


def test_policy_strips_only_fingerprint_cookies() -> None:
    policy = HeaderPolicy(fingerprint_cookies=("__Host-Fgp", "jotgate_fgp"))
    forwarding = Forwarding(client="192.0.2.1", scheme="http", host=b"h", request_id=b"r")
    headers = [
        (b"cookie", b"a=1;jotgate_fgp=x"),
        (b"cookie", b"__Host-Fgp=y"),
        (b"cookie", b"b=2"),
        (b"cookie", b"jotgate_fgpx=z"),
    ]
    out = policy.for_upstream(headers, forwarding, keep_authorization=False)
    assert [v for n, v in out if n == b"cookie"] == [b"a=1", b"b=2", b"jotgate_fgpx=z"]
    kept = policy.for_upstream(headers, forwarding, keep_authorization=True)
    assert [v for n, v in kept if n == b"cookie"] == [v for _, v in headers]


def test_fingerprint_cookie_names_are_settings() -> None:
    def settings(**values: Any) -> Any:
        return load(None, {"auth_server": "http://a", **values}, routes=["/api=http://u"])

    assert settings(fingerprint_cookies="fp,__Host-fp").fingerprint_cookies == ("fp", "__Host-fp")
    assert settings().fingerprint_cookies == ("__Host-Fgp", "jotgate_fgp")
    with pytest.raises(SettingsError, match="fingerprint_cookies"):
        settings(fingerprint_cookies="a;b")


# -- the real auth server ------------------------------------------------------


def _auth_server(tmp_path: Path, bind: str) -> ServerThread:
    from jotgate.server import Settings, create_app

    settings = Settings.validated(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
            "issuer": ISSUER,
            "audience": "jotgate",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
            "argon2_parallelism": 1,
            "token_transport": "cookie",
            "token_fingerprint": "on",
            "bind_tokens": bind,
        }
    )
    return ServerThread(create_app(settings), lifespan="on").start()


@pytest.fixture(params=["user-agent", "ip"])
def bound_door(
    request: pytest.FixtureRequest, tmp_path: Path, upstream: Served
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(binding, gateway URL, the login's cookies) with the real server behind the gateway."""
    auth = _auth_server(tmp_path, request.param)
    gateway = start_gateway(auth.url, [f"/api={upstream.url}"], issuer=ISSUER, trust_forwarded=True)
    try:
        with httpx.Client(base_url=gateway.url, timeout=10, headers={"User-Agent": UA}) as c:
            credentials = {"username": "alice", "password": PASSWORD}
            assert c.post("/auth/register", json=credentials).status_code == 201
            login = c.post("/auth/login", json=credentials)
            assert login.status_code == 200, login.text
            cookies = {name: c.cookies[name] for name in ("jotgate_access", "jotgate_fgp")}
        yield request.param, gateway.url, cookies
    finally:
        gateway.thread.stop()
        auth.stop()


def test_real_server_tokens_are_bound_at_the_gateway(
    bound_door: tuple[str, str, dict[str, Any]],
) -> None:
    bind, url, cookies = bound_door
    token, fingerprint = cookies["jotgate_access"], cookies["jotgate_fgp"]
    cookie = f"jotgate_fgp={fingerprint}; theme=dark"
    with httpx.Client(base_url=url, timeout=10) as c:  # no cookie jar: headers as given
        echo = c.get("/api/notes", headers=_headers(token, cookie=cookie))
        assert echo.status_code == 200, echo.text
        assert header_values(echo.json(), "cookie") == ["theme=dark"]
        assert c.get("/_jotgate/verify", headers=_headers(token, cookie=cookie)).status_code == 200
        # The token alone (lifted by XSS or from a log) opens nothing.
        _refused(c.get("/api/notes", headers=_headers(token)))
        _refused(c.get("/_jotgate/verify", headers=_headers(token, cookie="theme=dark")))
        if bind == "user-agent":
            other = _headers(token, cookie=cookie, ua="curl/8.5.0")
        else:
            # The gateway trusts X-Forwarded-For here, as behind nginx.
            other = _headers(token, cookie=cookie, **{"X-Forwarded-For": "198.51.100.7"})
        _refused(c.get("/api/notes", headers=other))
        _refused(c.get("/_jotgate/verify", headers=other))
