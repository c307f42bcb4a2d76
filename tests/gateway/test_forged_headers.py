"""Identity headers a client sends never reach an upstream, on any kind of route."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from .conftest import Served
from .servers import AuthStandIn, header_values

FORGED = [
    ("X-User-Id", "admin"),
    ("x-user-id", "root"),
    ("X-USER-ID", "root"),
    ("X_User_Id", "underscored"),  # read as X-User-Id by CGI/WSGI servers
    ("X-User-Roles", "admin"),
    ("X-User-Anything", "x"),
    ("X-Auth-Claims", "eyJzdWIiOiJhZG1pbiJ9"),
    ("X-Auth-Request-User", "admin"),
    ("X-Session-Id", "stolen"),
    ("x_session_id", "stolen"),
    ("X-Tenant-Id", "other-tenant"),  # configured by name
    ("X-Internal-Flag", "1"),  # configured as a family: X-Internal-*
    ("X-Forwarded-User", "admin"),  # what oauth2-proxy tells its upstreams
    ("Remote-User", "admin"),  # Authelia's
    ("X-Original-URL", "/admin"),  # a path override Symfony/IIS honour
]
IDENTITY_NAMES = {"x-user-", "x-auth-", "x-session-id", "x-tenant-id", "x-internal-",
                  "x-forwarded-user", "remote-user", "x-original-url"}  # fmt: skip


def _identity_headers(echo: dict[str, object]) -> list[list[str]]:
    headers: list[list[str]] = echo["headers"]  # type: ignore[assignment]
    return [
        [k, v]
        for k, v in headers
        if any(k.lower().replace("_", "-").startswith(n) for n in IDENTITY_NAMES)
    ]


def _send_forged(client: httpx.Client, path: str, token: str | None = None) -> httpx.Response:
    headers = list(FORGED)
    headers += [("X-User-Id", "duplicate-1"), ("X-User-Id", "duplicate-2")]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    return client.get(path, headers=headers)


def test_public_route_drops_every_forged_identity_header(client: httpx.Client) -> None:
    response = _send_forged(client, "/public/page")
    assert response.status_code == 200
    assert _identity_headers(response.json()) == []


def test_ordinary_headers_pass_including_underscored_ones(client: httpx.Client) -> None:
    # The control for the tests above: the server does deliver such names.
    echo = client.get("/public/x", headers=[("X-Custom", "a"), ("X_Custom_Under", "b")]).json()
    assert header_values(echo, "x-custom") == ["a"]
    assert header_values(echo, "x_custom_under") == ["b"]


def test_public_route_with_strip_prefix_drops_them_too(client: httpx.Client) -> None:
    response = _send_forged(client, "/strip/page")
    assert response.status_code == 200
    assert response.json()["path"] == "/page"
    assert _identity_headers(response.json()) == []


def test_required_route_replaces_forged_headers_with_the_tokens_identity(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(sub="real-user", sid="real-session", roles=["reader", "writer"])
    echo = _send_forged(client, "/api/notes", token).json()
    assert header_values(echo, "x-user-id") == ["real-user"]
    assert header_values(echo, "x-session-id") == ["real-session"]
    assert header_values(echo, "x-user-roles") == ["reader,writer"]
    names = {k.lower().replace("_", "-") for k, _ in _identity_headers(echo)}
    assert names == {"x-user-id", "x-user-roles", "x-user-scopes", "x-session-id", "x-auth-claims"}


def test_forged_headers_are_dropped_before_a_request_is_refused(client: httpx.Client) -> None:
    # No token: the answer comes from the gateway, and nothing forged passes.
    response = _send_forged(client, "/api/notes")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"


def test_auth_server_pass_through_drops_forged_headers(client: httpx.Client) -> None:
    echo = _send_forged(client, "/auth/me", "some-token").json()
    assert echo["auth_server"] is True
    assert _identity_headers(echo) == []
    # The auth server needs the token itself (logout, /auth/me).
    assert header_values(echo, "authorization") == ["Bearer some-token"]


def test_forward_auth_ignores_forged_identity(client: httpx.Client, stand_in: AuthStandIn) -> None:
    response = client.get("/_jotgate/verify", headers=[("X-User-Id", "admin")])
    assert response.status_code == 401
    assert "x-user-id" not in response.headers
    token = stand_in.token(sub="u-9")
    ok = client.get("/_jotgate/verify", headers=[("X-User-Id", "admin"), *_bearer(token)])
    assert ok.headers.get_list("x-user-id") == ["u-9"]


def test_x_auth_claims_is_base64url_json_of_the_claims(
    client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(sub="u-7", tenant="acme")
    echo = client.get("/api/x", headers=_bearer(token)).json()
    (encoded,) = header_values(echo, "x-auth-claims")
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert claims["sub"] == "u-7"
    assert claims["tenant"] == "acme"
    assert header_values(echo, "x-user-scopes") == ["notes:read"]


@pytest.mark.parametrize("keep", [False, True])
def test_authorization_is_dropped_unless_the_route_keeps_it(
    client: httpx.Client, stand_in: AuthStandIn, keep: bool
) -> None:
    token = stand_in.token()
    echo = client.get("/keep/x" if keep else "/api/x", headers=_bearer(token)).json()
    assert header_values(echo, "authorization") == ([f"Bearer {token}"] if keep else [])
    assert header_values(echo, "x-user-id") == ["user-1"]


def test_public_route_does_not_pass_the_token_on(client: httpx.Client) -> None:
    echo = client.get("/public/x", headers=_bearer("not-checked-here")).json()
    assert header_values(echo, "authorization") == []


def test_claims_that_cannot_be_headers_are_refused(
    gateway: Served, client: httpx.Client, stand_in: AuthStandIn
) -> None:
    token = stand_in.token(sub="evil\r\nX-User-Roles: admin")
    response = client.get("/api/x", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    comma = stand_in.token(roles=["reader,admin"])
    assert client.get("/api/x", headers=_bearer(comma)).status_code == 401


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]
