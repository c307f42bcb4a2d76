"""End to end: the real auth server issues encrypted, DPoP-bound tokens; the gateway takes them.

The client logs in through the gateway with a DPoP proof, gets an encrypted
access token bound to its key, and calls a service through the gateway with
a fresh proof per request. The gateway decrypts with the keys the server's
``jotgate keys export --use enc --private`` wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jotgate import dpop, jwk
from jotgate.cli import main

from .conftest import Served, start_gateway
from .servers import header_values
from .test_with_auth_server import ISSUER, PASSWORD, _auth_server

CLIENT_KEY = jwk.Key.generate("ES256")
HOST = ISSUER.removeprefix("http://")  # the one public origin of server and gateway


@pytest.fixture
def front_door(tmp_path: Path, upstream: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    auth = _auth_server(tmp_path, access_token_encryption="ECDH-ES+A256KW")
    for name in [n for n in os.environ if n.startswith("JOTGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JOTGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'auth.db'}")
    monkeypatch.setenv("JOTGATE_ACCESS_TOKEN_ENCRYPTION", "ECDH-ES+A256KW")
    keys = tmp_path / "token-decryption.jwks"
    status = main(["keys", "export", "--use", "enc", "--private", "--out", str(keys)])
    assert status == 0
    gateway = start_gateway(
        auth.url, [f"/api={upstream.url}"], issuer=ISSUER,
        access_token_decryption_key=str(keys),
    )  # fmt: skip
    try:
        yield gateway.url
    finally:
        gateway.thread.stop()
        auth.stop()


def proof(method: str, path: str, **options: Any) -> str:
    return dpop.create_proof(CLIENT_KEY, method, ISSUER + path, **options)


def test_encrypted_dpop_bound_tokens_from_the_server_pass_the_gateway(front_door: str) -> None:
    with httpx.Client(base_url=front_door, timeout=10, headers={"Host": HOST}) as c:
        credentials = {"username": "dora", "password": PASSWORD}
        assert c.post("/auth/register", json=credentials).status_code == 201
        login = c.post(
            "/auth/login", json=credentials, headers={"DPoP": proof("POST", "/auth/login")}
        )
        assert login.status_code == 200, login.text
        access = login.json()["access_token"]
        assert access.count(".") == 4, "the server encrypts access tokens"

        def call(path: str, value: str, scheme: str = "DPoP") -> httpx.Response:
            return c.get(path, headers={"Authorization": f"{scheme} {access}", "DPoP": value})

        first = call("/api/notes", proof("GET", "/api/notes", access_token=access))
        assert first.status_code == 200, first.text
        assert header_values(first.json(), "x-user-id")
        assert header_values(first.json(), "dpop") == []
        value = proof("GET", "/api/notes", access_token=access)
        assert call("/api/notes", value).status_code == 200
        replay = call("/api/notes", value)
        assert (replay.status_code, replay.json()["error"]) == (401, "invalid_dpop_proof")
        bearer = call("/api/notes", proof("GET", "/api/notes", access_token=access), "Bearer")
        assert (bearer.status_code, bearer.json()["error"]) == (401, "invalid_token")
