"""deploy/nginx/ as shipped, on a real nginx, in front of a real jotgate auth server.

The forward-auth contract (DESIGN.md flow step 7): the auth server's
``GET /auth/verify`` answers 200 with identity headers, or 401/403; nginx lets
the request through with exactly those identity headers, or passes the
refusal on with its challenge and error code. Whatever the client sends under
the identity header names never reaches the application, on protected and
public locations alike; and no answer about a token is ever a 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from jotgate import jwk, jwt

from . import conftest
from .conftest import Stack, User, auth_server, expired_token, sign_up
from .servers import DEPLOY_NGINX, SITE_FILES, Nginx, ServerThread, free_port, header_values

IDENTITY = ("X-User-Id", "X-User-Roles", "X-Session-Id", "X-Auth-Claims", "X-User-Scopes")

#: What a client might send to pass as someone else: every identity header,
#: a second copy in another case, and the underscore spelling some frameworks
#: (CGI/WSGI) read as the dashed one.
FORGED = [
    ("X-User-Id", "admin-forged"),
    ("x-user-id", "admin-forged-2"),
    ("X_User_Id", "admin-underscore"),
    ("X-User-Roles", "root"),
    ("X-Session-Id", "session-forged"),
    ("X-Auth-Claims", "eyJzdWIiOiJhZG1pbiJ9"),
    ("X-User-Scopes", "everything"),
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["upstream"] is True, "the request did not reach the application"
    return body


def _refusal(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """Check a refusal made at the edge: status, JSON error code, no-store."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert "upstream" not in body
    return body


@pytest.fixture
def user(client: httpx.Client, stack: Stack) -> User:
    return sign_up(client, stack.auth)


@pytest.fixture
def admin(client: httpx.Client, stack: Stack) -> User:
    return sign_up(client, stack.auth, roles=("admin",))


# --- the shipped file is the tested file ---------------------------------------------


def test_the_tested_config_is_the_shipped_one(stack: Stack) -> None:
    for source in DEPLOY_NGINX.glob("*.conf"):
        running = (stack.edge.prefix / source.name).read_text()
        if source.name in SITE_FILES:
            # Only the address lines may differ.
            changed = set(running.splitlines()) ^ set(source.read_text().splitlines())
            assert all(line.strip().startswith(("server ", "listen ")) for line in changed)
        else:
            assert running == source.read_text(), source.name
    argv = [*stack.edge.argv(), "-t", "-g", f"pid {stack.edge.prefix}/nginx-t.pid;"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


# --- a valid token -------------------------------------------------------------------


def test_valid_token_reaches_the_app_with_identity_headers(
    client: httpx.Client, user: User
) -> None:
    echo = _echo(client.post("/api/notes", headers=user.bearer, content=b"a note"))
    assert echo["method"] == "POST"
    assert echo["body"] == "a note"  # the auth subrequest did not eat the body
    assert header_values(echo, "X-User-Id") == [user.id]
    assert header_values(echo, "X-User-Id") == [user.claims["sub"]]
    assert header_values(echo, "X-Session-Id") == [user.claims["sid"]]
    # No roles: the auth server sends the header empty, nginx sends none.
    assert header_values(echo, "X-User-Roles") == []
    # The application trusts the headers; the token stays at the edge.
    assert header_values(echo, "Authorization") == []


def test_roles_reach_the_app_and_gate_a_location(
    client: httpx.Client, user: User, admin: User
) -> None:
    echo = _echo(client.get("/admin/users", headers=admin.bearer))
    assert header_values(echo, "X-User-Id") == [admin.id]
    assert header_values(echo, "X-User-Roles") == ["admin"]

    refused = client.get("/admin/users", headers=user.bearer)
    _refusal(refused, 403, "insufficient_scope")
    assert refused.headers.get_list("www-authenticate") == [
        'Bearer error="insufficient_scope", scope="admin"'
    ]


def test_claim_set_reaches_the_app(client: httpx.Client, user: User) -> None:
    echo = _echo(client.get("/api/notes", headers=user.bearer))
    (encoded,) = header_values(echo, "X-Auth-Claims")
    claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert claims["sub"] == user.id


def test_head_and_other_methods_are_checked_the_same(client: httpx.Client, user: User) -> None:
    # The check is always a bodiless GET (proxy_method GET): /auth/verify is
    # GET-only, and a 405 from it would reach the client as an outage.
    for method in ("HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"):
        assert client.request(method, "/api/x", headers=user.bearer).status_code == 200, method
        assert client.request(method, "/api/x").status_code == 401, method


def test_concurrent_requests_never_mix_identities(
    client: httpx.Client, user: User, admin: User
) -> None:
    # nginx keeps the auth server's connections alive and runs many checks at
    # once; each request must carry its own answer and nobody else's.
    def call(index: int) -> tuple[str | None, list[str]]:
        who = (user, admin, None)[index % 3]
        path = f"/api/{index}" if who else f"/public/{index}"
        headers = dict(FORGED[:1]) | (who.bearer if who else {})
        echo = _echo(client.get(path, headers=headers))
        return (who.id if who else None), header_values(echo, "X-User-Id")

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(call, range(30)))
    for expected, seen in results:
        assert seen == ([expected] if expected else [])


# --- forged identity headers ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/notes", "/admin/users", "/public/page"])
def test_forged_identity_headers_never_reach_the_app(
    client: httpx.Client, admin: User, path: str
) -> None:
    echo = _echo(client.get(path, headers=httpx.Headers([*admin.bearer.items(), *FORGED])))
    forged_values = {value for _, value in FORGED}
    assert not forged_values & {value for _, value in echo["headers"]}
    if path.startswith("/public/"):
        # A public location runs no check: no identity at all, even with a token.
        for name in IDENTITY:
            assert header_values(echo, name) == [], name
    else:
        assert header_values(echo, "X-User-Id") == [admin.id]
        assert header_values(echo, "X-User-Roles") == ["admin"]
        assert header_values(echo, "X-Session-Id") == [admin.claims["sid"]]


def test_forged_identity_without_a_token(client: httpx.Client) -> None:
    headers = httpx.Headers(FORGED)
    echo = _echo(client.get("/public/page", headers=headers))
    for name in IDENTITY:
        assert header_values(echo, name) == [], name
    _refusal(client.get("/api/notes", headers=headers), 401, "missing_token")


# --- refusals: missing, expired, forged, revoked ---------------------------------------


@pytest.mark.parametrize("path", ["/api/notes", "/admin/users"])
def test_missing_token_is_401_with_a_challenge(client: httpx.Client, path: str) -> None:
    response = client.post(path, content=b"x")
    _refusal(response, 401, "missing_token")
    # Exactly one challenge, the auth server's: RFC 6750 has no error code here.
    assert response.headers.get_list("www-authenticate") == ["Bearer"]


def test_expired_token_is_401_token_expired(client: httpx.Client, stack: Stack, user: User) -> None:
    expired = expired_token(stack.auth, user)
    for path in ("/api/notes", "/admin/users"):
        response = client.get(path, headers={"Authorization": f"Bearer {expired}"})
        body = _refusal(response, 401, "token_expired")
        assert "expired" in body["message"]
        (challenge,) = response.headers.get_list("www-authenticate")
        assert challenge.startswith('Bearer error="invalid_token"')
        assert "expired" in challenge


def _forgeries(client: httpx.Client, user: User) -> Iterator[tuple[str, str]]:
    """Tokens an attacker could make from a real one and the public JWKS."""
    header_b64, _payload, signature = user.access_token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    claims = dict(user.claims, sub="someone-else", roles=["admin"])
    payload = _b64(json.dumps(claims).encode())

    yield "tampered payload", f"{header_b64}.{payload}.{signature}"
    other = jwk.Key.generate("ES256")
    yield "foreign key, same kid", jwt.encode(claims, other, headers={"kid": header["kid"]})
    none = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": header["kid"]}).encode())
    yield "alg none", f"{none}.{payload}."
    # Algorithm confusion: HMAC keyed with the server's own public key.
    jwks = client.get("/.well-known/jwks.json").json()
    public = jwk.Key.from_jwk(jwks["keys"][0]).to_pem()
    hs = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]}).encode())
    mac = hmac.new(public, f"{hs}.{payload}".encode(), hashlib.sha256).digest()
    yield "HS256 with the public key", f"{hs}.{payload}.{_b64(mac)}"
    yield "garbage", "not-a-token"
    yield "three dots", "a.b.c"
    yield "a refresh token", user.refresh_token


def test_forged_tokens_are_401_invalid_token(client: httpx.Client, user: User) -> None:
    for name, token in _forgeries(client, user):
        response = client.get("/api/notes", headers={"Authorization": f"Bearer {token}"})
        _refusal(response, 401, "invalid_token")
        (challenge,) = response.headers.get_list("www-authenticate")
        assert challenge.startswith('Bearer error="invalid_token"'), name


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer " + "x" * 9000, "Bearer " + "x" * 20_000],
)
def test_odd_credentials_are_refused_never_5xx(client: httpx.Client, authorization: str) -> None:
    response = client.get("/api/notes", headers={"Authorization": authorization})
    # A header over nginx's 8k buffers is refused by nginx itself (400); all
    # else is the auth server's 401. Neither is a 5xx.
    assert response.status_code in (400, 401), response.text
    assert "upstream" not in response.text


def test_logged_out_token_is_401_token_revoked(client: httpx.Client, user: User) -> None:
    assert client.get("/api/notes", headers=user.bearer).status_code == 200
    assert client.post("/auth/logout", headers=user.bearer).status_code in (200, 204)
    _refusal(client.get("/api/notes", headers=user.bearer), 401, "token_revoked")


def test_the_apps_own_refusals_pass_through_untouched(client: httpx.Client, user: User) -> None:
    # error_page catches only auth_request's answers, never the application's.
    response = client.get("/api/notes?status=401", headers=user.bearer)
    assert response.status_code == 401
    assert response.json()["upstream"] is True
    assert response.headers.get_list("www-authenticate") == ['Basic realm="the app itself"']


# --- one origin: the auth server's API through nginx ---------------------------------


def test_the_auth_api_is_served_on_the_same_origin(client: httpx.Client, user: User) -> None:
    me = client.get("/auth/me", headers=user.bearer)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user.id
    assert client.get("/.well-known/jwks.json").json()["keys"]
    # The check itself is internal to nginx.
    assert client.get("/_auth", headers=user.bearer).status_code == 404


# --- cookies ---------------------------------------------------------------------------


def _cookies_for(user: User, path: str, **replace: str) -> dict[str, str]:
    """The Cookie header a browser sends for ``path``: the login's cookies whose Path covers it.

    Sent explicitly: the cookies are ``Secure``, which httpx's jar sends over
    https only, while browsers also send them to http://localhost and
    http://127.0.0.1 (secure contexts), as here.
    """
    values = {}
    for cookie in user.cookies:
        prefix = cookie.path.rstrip("/") + "/"
        if path == cookie.path or path.startswith(prefix):
            values[cookie.name] = cookie.value
    values.update(replace)
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in values.items() if v is not None)}


def test_a_token_in_the_cookie_is_checked_too(client: httpx.Client, user: User) -> None:
    assert {c.name for c in user.cookies if c.secure} >= {"jotgate_access", "jotgate_refresh"}
    echo = _echo(client.get("/api/notes", headers=_cookies_for(user, "/api/notes")))
    assert header_values(echo, "X-User-Id") == [user.id]
    # The refresh cookie is scoped to /auth/refresh: neither the app nor the
    # rest of the auth API ever sees it.
    (cookie_header,) = header_values(echo, "Cookie")
    assert "jotgate_access=" in cookie_header
    assert "jotgate_refresh=" not in cookie_header
    assert "jotgate_refresh=" not in _cookies_for(user, "/auth/me")["Cookie"]
    assert "jotgate_refresh=" in _cookies_for(user, "/auth/refresh")["Cookie"]
    me = client.get("/auth/me", headers=_cookies_for(user, "/auth/me"))
    assert me.status_code == 200, me.text
    forged = _cookies_for(user, "/api/notes", jotgate_access="forged")
    _refusal(client.get("/api/notes", headers=forged), 401, "invalid_token")


def test_a_cookie_post_without_the_csrf_header_is_refused(client: httpx.Client, user: User) -> None:
    cookies = _cookies_for(user, "/api/notes")
    response = client.post("/api/notes", content=b"x", headers=cookies)
    _refusal(response, 403, "csrf_failed")
    # Another value than this session's is refused as well; its own goes through.
    forged = client.post("/api/notes", content=b"x", headers={**cookies, "X-CSRF-Token": "A" * 43})
    _refusal(forged, 403, "csrf_failed")
    token = next(c.value for c in user.cookies if c.name == "jotgate_csrf")
    assert token is not None
    _echo(client.post("/api/notes", content=b"x", headers={**cookies, "X-CSRF-Token": token}))


# --- failures of the proxy path are not decisions ------------------------------------


@pytest.fixture(scope="module")
def dead_auth_edge(
    nginx: str, upstream: ServerThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    """The shipped config with the auth server's address pointing at a closed port."""
    edge = Nginx(
        nginx,
        tmp_path_factory.mktemp("nginx-dead-auth"),
        auth=f"127.0.0.1:{free_port()}",
        app=upstream.address,
    )
    edge.start()
    yield edge
    edge.stop()


def test_auth_server_down_is_503_not_500_and_fails_closed(dead_auth_edge: Nginx) -> None:
    with httpx.Client(base_url=dead_auth_edge.url, timeout=10) as c:
        for headers in ({"Authorization": "Bearer a.b.c"}, {}, dict(FORGED[:1])):
            response = c.get("/api/notes", headers=headers)
            body = _refusal(response, 503, "auth_unavailable")
            assert response.headers["retry-after"] == "1"
            assert "upstream" not in body
        # Public pages do not depend on the auth server.
        assert _echo(c.get("/public/page"))["path"] == "/public/page"


@pytest.fixture(scope="module")
def stack_419(
    nginx: str, upstream: ServerThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The shipped config over an auth server configured with expired_status=419."""
    auth = auth_server(tmp_path_factory.mktemp("auth-419"), expired_status=419)
    prefix = tmp_path_factory.mktemp("nginx-419")
    edge = Nginx(nginx, prefix, auth=auth.address, app=upstream.address)
    try:
        edge.start()
        yield Stack(edge, auth, upstream)
    finally:
        edge.stop()
        auth.stop()


def test_expired_token_with_expired_status_419_is_still_a_401(stack_419: Stack) -> None:
    with stack_419.client() as c:
        user = sign_up(c, stack_419.auth)
        expired = expired_token(stack_419.auth, user)
        response = c.get("/api/notes", headers={"Authorization": f"Bearer {expired}"})
        _refusal(response, 401, "token_expired")


def test_nginx_logged_no_config_trouble(client: httpx.Client, stack: Stack, user: User) -> None:
    # A typo in a variable name would only show as a warning in the log
    # ("using uninitialized variable") and an identity header silently missing.
    client.get("/public/page")
    client.get("/api/notes", headers=user.bearer)
    client.get("/api/notes")
    log = stack.edge.log
    for marker in ("[emerg]", "[alert]", "[crit]", "uninitialized", "[warn]"):
        assert marker not in log, log


def test_site_files_are_only_addresses() -> None:
    # Everything but the addresses is the contract; keep it out of the site files.
    for name in SITE_FILES:
        lines = [
            line.strip()
            for line in (DEPLOY_NGINX / name).read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        allowed = ("upstream ", "server ", "keepalive ", "listen ", "}")
        assert all(line.startswith(allowed) for line in lines), lines


def test_without_nginx_the_tests_skip_but_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "nginx_binary", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nginx is not installed"):
        conftest._need_nginx()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        conftest._need_nginx()
