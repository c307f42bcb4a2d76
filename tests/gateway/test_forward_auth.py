"""The forward-auth check (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz).

The contract those proxies share: 200 means "let it through" (and copy the
identity headers upstream), 401/403 are passed to the client as the
refusal, and anything else (3xx, 5xx) would be read as a broken auth
service. So the check answers only 200, 401 or 403 about a token.
"""

from __future__ import annotations

import time

import httpx
import pytest

from .servers import AuthStandIn


def _check(client: httpx.Client, token: str | None, path: str = "/_jotgate/verify",
           method: str = "GET") -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.request(method, path, headers=headers)


def test_valid_token_is_200_with_identity_headers(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    response = _check(client, stand_in.token(sub="u-5", sid="s-5", roles=["a", "b"]))
    assert response.status_code == 200
    assert response.headers["x-user-id"] == "u-5"
    assert response.headers["x-session-id"] == "s-5"
    assert response.headers["x-user-roles"] == "a,b"
    assert response.headers["x-auth-claims"]
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""


def test_no_token_is_401_with_a_challenge(client: httpx.Client) -> None:
    response = _check(client, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "missing_token"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 20_000])
def test_bad_tokens_are_401_never_5xx(client: httpx.Client, token: str) -> None:
    response = _check(client, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_expired_token_is_401_token_expired(client: httpx.Client, stand_in: AuthStandIn) -> None:
    now = int(time.time())
    response = _check(client, stand_in.token(iat=now - 100, exp=now - 1))
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


@pytest.mark.parametrize(
    ("query", "status"),
    [("?roles=admin", 403), ("?role=admin", 403), ("?scopes=notes:write", 403),
     ("?roles=reader", 200), ("?scopes=notes:read", 200), ("?roles=reader,admin", 403)],
)  # fmt: skip
def test_required_roles_and_scopes_come_from_the_query(
    client: httpx.Client, stand_in: AuthStandIn, query: str, status: int
) -> None:
    token = stand_in.token(roles=["reader"], scope="notes:read")
    response = _check(client, token, "/_jotgate/verify" + query)
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_envoy_style_path_suffix_and_any_method(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    # Envoy's ext_authz HTTP service appends the original path to the prefix,
    # and Traefik sends the original method.
    token = stand_in.token()
    assert _check(client, token, "/_jotgate/verify/api/notes/1", "DELETE").status_code == 200
    assert _check(client, None, "/_jotgate/verify/api/notes/1", "POST").status_code == 401


def test_revoked_token_is_401_token_revoked(client: httpx.Client, stand_in: AuthStandIn) -> None:
    token = stand_in.token(sid="fa-session")
    assert _check(client, token).status_code == 200
    stand_in.revoked.append({"sid": "fa-session", "exp": time.time() + 900})
    try:
        deadline = time.monotonic() + 5  # the poll runs every 0.1 s in these tests
        while (response := _check(client, token)).status_code == 200:
            assert time.monotonic() < deadline, "the revocation was never seen"
            time.sleep(0.02)
    finally:
        stand_in.revoked.clear()
    assert response.status_code == 401
    assert response.json()["error"] == "token_revoked"
