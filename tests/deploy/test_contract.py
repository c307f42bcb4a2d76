"""The forward-auth contract, sent to the real auth server exactly as each proxy sends it.

nginx ``auth_request`` (as configured in deploy/nginx): a bodiless GET to
/auth/verify with X-Original-URI/-Method. Traefik ForwardAuth: a bodiless GET
with X-Forwarded-Method/-Uri/-Host/-Proto/-For. Envoy ext_authz (HTTP service):
the client's own method, on /auth/verify with ``path_override`` or on
/auth/verify + the client's path with the older ``path_prefix``.

Whatever the proxy, the answer about a token must be 200 (with the identity
headers), 401 (with WWW-Authenticate) or 403: a proxy reads anything else as
a broken auth service (nginx: 500) or hands it to the client as is (Traefik,
Envoy: a 405 or 404 for a valid token). These tests need no proxy installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .conftest import User, expired_token, sign_up
from .servers import ServerThread

IDENTITY = {"x-user-id", "x-user-roles", "x-session-id"}

NGINX = {"X-Original-URI": "/api/notes?page=2", "X-Original-Method": "POST"}
TRAEFIK = {
    "X-Forwarded-Method": "POST",
    "X-Forwarded-Uri": "/api/notes?page=2",
    "X-Forwarded-Host": "edge.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "X-Forwarded-For": "198.51.100.7",
}


@pytest.fixture
def client(auth: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{auth.address}", timeout=10) as c:
        yield c


@pytest.fixture
def user(client: httpx.Client, auth: ServerThread) -> User:
    return sign_up(client, auth)


@pytest.mark.parametrize("proxy_headers", [NGINX, TRAEFIK], ids=["nginx", "traefik"])
def test_get_shaped_checks_answer_200_401_403(
    client: httpx.Client, auth: ServerThread, user: User, proxy_headers: dict[str, str]
) -> None:
    ok = client.get("/auth/verify", headers={**user.bearer, **proxy_headers})
    assert ok.status_code == 200
    assert ok.headers["x-user-id"] == user.id
    assert ok.headers["x-session-id"] == user.claims["sid"]
    assert ok.headers["cache-control"] == "no-store"

    missing = client.get("/auth/verify", headers=proxy_headers)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"

    expired = {"Authorization": f"Bearer {expired_token(auth, user)}", **proxy_headers}
    response = client.get("/auth/verify", headers=expired)
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')

    forbidden = client.get("/auth/verify?role=admin", headers={**user.bearer, **proxy_headers})
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]


def test_a_refusal_never_carries_identity_headers(client: httpx.Client, auth: ServerThread) -> None:
    # Traefik copies authResponseHeaders only on 2xx, Envoy only on 200 and
    # nginx reads them only after a 2xx; still, a refusal must not name anyone.
    user = sign_up(client, auth)
    for headers in ({}, {"Authorization": f"Bearer {expired_token(auth, user)}"}):
        response = client.get("/auth/verify", headers=headers)
        assert response.status_code == 401
        assert not IDENTITY & {name.lower() for name in response.headers}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD"])
def test_envoy_shaped_check_with_the_clients_method(
    client: httpx.Client, user: User, method: str
) -> None:
    response = client.request(method, "/auth/verify", headers=user.bearer)
    assert response.status_code == 200


def test_envoy_shaped_check_with_the_clients_path_appended(
    client: httpx.Client, user: User
) -> None:
    response = client.get("/auth/verify/api/notes", headers=user.bearer)
    assert response.status_code == 200


def test_odd_checks_are_still_4xx_about_the_token(client: httpx.Client) -> None:
    for headers in (
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "x" * 9000},
        {"Cookie": "jotgate_access=forged"},
    ):
        response = client.get("/auth/verify", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
