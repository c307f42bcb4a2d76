"""Required routes: which tokens pass, and the 401/403 answers of DESIGN.md for the rest."""

from __future__ import annotations

import time

import httpx
import pytest

from jotgate import jwk, jwt

from .conftest import GatewayFactory, Served
from .servers import AuthStandIn, header_values


def _get(client: httpx.Client, path: str, token: str) -> httpx.Response:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def _assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["cache-control"] == "no-store"


def test_valid_token_reaches_the_upstream_with_identity(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    response = _get(client, "/api/notes?page=2", stand_in.token(sub="u-1"))
    assert response.status_code == 200
    echo = response.json()
    assert echo["path"] == "/api/notes"
    assert echo["query"] == "page=2"
    assert header_values(echo, "x-user-id") == ["u-1"]


def test_no_token_is_missing_token(client: httpx.Client) -> None:
    response = client.get("/api/notes")
    _assert_refused(response, 401, "missing_token")
    assert response.headers["www-authenticate"] == "Bearer"


def test_other_schemes_count_as_no_token(client: httpx.Client) -> None:
    response = client.get("/api/notes", headers={"Authorization": "Basic dTpw"})
    _assert_refused(response, 401, "missing_token")


def test_expired_token_is_token_expired(client: httpx.Client, stand_in: AuthStandIn) -> None:
    now = int(time.time())
    token = stand_in.token(iat=now - 1000, exp=now - 10)
    response = _get(client, "/api/notes", token)
    _assert_refused(response, 401, "token_expired")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "damage",
    ["garbage", "signature", "other_key", "audience", "issuer", "typ", "alg_none"],
)
def test_bad_tokens_are_invalid_token(
    client: httpx.Client, stand_in: AuthStandIn, damage: str
) -> None:
    token = stand_in.token()
    if damage == "garbage":
        token = "not.a.token"
    elif damage == "signature":
        head, payload, sig = token.split(".")
        token = f"{head}.{payload}.{sig[::-1]}"
    elif damage == "other_key":
        token = stand_in.token(jwk.Key.generate("ES256", kid="k1"))  # same kid, wrong key
    elif damage == "audience":
        token = stand_in.token(aud="another-api")
    elif damage == "issuer":
        token = stand_in.token(iss="https://evil.example")
    elif damage == "typ":
        claims = jwt.decode_unverified(token)[1]
        token = jwt.encode(claims, stand_in.keys[0], typ="JWT")  # not an access token
    elif damage == "alg_none":
        head, payload, _ = token.split(".")
        token = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + payload + "."
    _assert_refused(_get(client, "/api/notes", token), 401, "invalid_token")


def test_token_without_sub_is_refused(client: httpx.Client, stand_in: AuthStandIn) -> None:
    _assert_refused(_get(client, "/api/x", stand_in.token(sub=None)), 401, "invalid_token")


def test_missing_role_is_403_insufficient_scope(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    response = _get(client, "/admin/users", stand_in.token(roles=["reader"]))
    _assert_refused(response, 403, "insufficient_scope")
    assert 'scope="admin"' in response.headers["www-authenticate"]
    allowed = _get(client, "/admin/users", stand_in.token(roles=["reader", "admin"]))
    assert allowed.status_code == 200


def test_missing_scope_is_403_insufficient_scope(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    response = _get(client, "/notes/write", stand_in.token(scope="notes:read"))
    _assert_refused(response, 403, "insufficient_scope")
    allowed = _get(client, "/notes/write/1", stand_in.token(scope="notes:read notes:write"))
    assert allowed.status_code == 200


def test_expired_status_419_when_configured(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    gw = make_gateway([f"/api={upstream.url}"], expired_status=419)
    now = int(time.time())
    with httpx.Client(base_url=gw.url) as c:
        response = _get(c, "/api/x", stand_in.token(iat=now - 1000, exp=now - 1))
        _assert_refused(response, 419, "token_expired")
        assert _get(c, "/api/x", "x.y.z").status_code == 401
        # Forward-auth keeps the proxies' contract: 200/401/403 only.
        check = _get(c, "/_jotgate/verify", stand_in.token(iat=now - 1000, exp=now - 1))
        _assert_refused(check, 401, "token_expired")
        assert check.headers["x-auth-error"] == "token_expired"


def test_revoked_session_is_refused_within_a_second(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    # Polling the auth server (no Redis configured), every 0.1 s here.
    gw = make_gateway([f"/api={upstream.url}"], revocation_poll_interval=0.1)
    token = stand_in.token(sid="session-to-end")
    other = stand_in.token(sid="session-kept")
    with httpx.Client(base_url=gw.url) as c:
        assert _get(c, "/api/x", token).status_code == 200  # now in the verifier's cache
        stand_in.revoked.append({"sid": "session-to-end", "exp": time.time() + 900})
        try:
            response = _wait_for_status(c, "/api/x", token, 401)
        finally:
            stand_in.revoked.clear()
        _assert_refused(response, 401, "token_revoked")
        assert _get(c, "/api/x", other).status_code == 200


def _wait_for_status(c: httpx.Client, path: str, token: str, status: int) -> httpx.Response:
    # The deadline only stops a hang; the feed's interval (<= 1 s) is the promise.
    deadline = time.monotonic() + 5
    while True:
        response = _get(c, path, token)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.02)
