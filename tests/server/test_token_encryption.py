"""Encrypted access tokens (ACCESS_TOKEN_ENCRYPTION): opaque to clients, checked by the server.

Every protected route, /auth/verify, logout and introspection decrypt; a
token encrypted to another key, or not encrypted at all, is 401
``invalid_token`` (never a 500).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update

from jotgate import errors, jwe, jwk, jwt
from jotgate.server.keystore import KeyStore
from jotgate.server.models import EncryptionKey

from .conftest import Server, bearer, running, test_settings

pytestmark = pytest.mark.anyio

CLIENT_SECRET = "a service client secret of length"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"api:{CLIENT_SECRET}".encode()).decode()}
ENV_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


MODES = {
    "ecdh": {"access_token_encryption": "ECDH-ES+A256KW"},
    "dir": {"access_token_encryption": "dir"},
    "dir-env": {"access_token_encryption": "dir", "access_token_key": ENV_KEY},
}


@pytest.fixture(params=list(MODES))
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    settings = test_settings(
        tmp_path, introspection_clients=f"api:{CLIENT_SECRET}", **MODES[request.param]
    )
    async with running(settings) as srv:
        yield srv


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(unb64(token.split(".")[0]))
    return header


async def test_access_tokens_are_opaque_five_part_jwes(server: Server) -> None:
    tokens = await server.signup()
    token = tokens["access_token"]
    assert token.count(".") == 4
    assert jwe.is_compact_jwe(token)
    header = header_of(token)
    assert header["enc"] == "A256GCM"
    assert header["alg"] == server.settings.access_token_encryption
    assert header["cty"] == "JWT"
    with pytest.raises(errors.JoseError):
        jwt.decode_unverified(token)
    me = (await server.client.get("/auth/me", headers=bearer(token))).json()
    # Nothing of the claims shows in any part of the token, raw or decoded.
    visible = token + "".join(unb64(p).decode("latin-1") for p in token.split("."))
    for value in (me["id"], me["session_id"], "alice", server.settings.issuer):
        assert value not in visible


async def test_every_server_check_decrypts(server: Server) -> None:
    tokens = await server.signup()
    auth = bearer(tokens["access_token"])
    assert (await server.client.get("/auth/me", headers=auth)).status_code == 200
    assert (await server.client.get("/auth/sessions", headers=auth)).status_code == 200
    verified = await server.client.get("/auth/verify", headers=auth)
    assert verified.status_code == 200
    assert (
        verified.headers["x-user-id"]
        == (await server.client.get("/auth/me", headers=auth)).json()["id"]
    )
    introspected = await server.client.post(
        "/auth/introspect", data={"token": tokens["access_token"]}, headers=BASIC
    )
    assert introspected.json()["active"] is True
    assert introspected.json()["username"] == "alice"
    refreshed = await server.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"].count(".") == 4
    assert (await server.client.post("/auth/logout", headers=auth)).status_code == 204
    after = await server.client.get("/auth/me", headers=auth)
    assert (after.status_code, after.json()["error"]) == (401, "token_revoked")


async def test_enc_keys_are_not_in_the_published_jwks(server: Server) -> None:
    published = (await server.client.get("/.well-known/jwks.json")).json()
    assert all(k.get("use") != "enc" for k in published["keys"])
    assert [k["alg"] for k in published["keys"]] == ["ES256"]


async def signed_claims(server: Server) -> tuple[dict[str, object], jwk.Key]:
    tokens = await server.signup()
    await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    loaded = await server.runtime.keys.current()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    me = (await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    claims = {
        "iss": server.settings.issuer,
        "sub": me["id"],
        "aud": server.settings.audience,
        "exp": now + 300,
        "iat": now,
        "jti": "x" * 16,
        "sid": me["session_id"],
        "roles": [],
    }
    return claims, loaded.signing


async def refused(server: Server, token: str) -> None:
    for path in ("/auth/me", "/auth/verify"):
        answer = await server.client.get(path, headers=bearer(token))
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_token"
        assert "invalid_token" in answer.headers["www-authenticate"]


async def test_a_token_encrypted_to_another_key_is_invalid_not_a_500(server: Server) -> None:
    claims, signing = await signed_claims(server)
    alg = server.settings.access_token_encryption
    if alg == "dir":
        other = jwk.Key.from_secret(secrets.token_bytes(32), alg="dir", kid="other")
    else:
        other = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), alg=alg)
    token = jwt.encode(
        claims, signing, headers={"kid": signing.kid}, typ="at+jwt",
        encrypt_to=other if other.is_symmetric else other.public_key(), key_management=alg,
    )  # fmt: skip
    await refused(server, token)


async def test_a_signed_but_unencrypted_token_is_refused(server: Server) -> None:
    claims, signing = await signed_claims(server)
    await refused(server, jwt.encode(claims, signing, headers={"kid": signing.kid}, typ="at+jwt"))


@pytest.mark.parametrize(
    "token",
    ["a.b.c.d.e", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA", "." * 4, "x" * 5000],
)
async def test_garbage_jwes_are_invalid_tokens(server: Server, token: str) -> None:
    await refused(server, token)


async def test_rotation_keeps_old_tokens_decryptable_until_they_expire(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, access_token_encryption="ECDH-ES+A256KW")
    async with running(settings) as server:
        old = await server.signup()
        store = server.runtime.encryption
        assert isinstance(store, KeyStore)
        old_kid = header_of(old["access_token"])["kid"]
        new_kid = await store.rotate(activate_after=0)
        new = await server.login()
        assert header_of(new["access_token"])["kid"] == new_kid != old_kid
        for tokens in (old, new):
            me = await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
            assert me.status_code == 200
        states = {k.kid: k.state for k in await store.states()}
        assert states == {old_kid: "retiring", new_kid: "active"}
        # Move the switch back past access TTL + 60 s: the old key retires.
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.access_token_ttl + 61)
        async with server.runtime.db() as db, db.begin():
            for kid, moment in ((old_kid, past - dt.timedelta(seconds=10)), (new_kid, past)):
                await db.execute(
                    update(EncryptionKey)
                    .where(EncryptionKey.kid == kid)
                    .values(activates_at=moment)
                )
        await store.reload()
        assert {k.kid: k.state for k in await store.states()}[old_kid] == "retired"
        await refused(server, old["access_token"])
        ok = await server.client.get("/auth/me", headers=bearer(new["access_token"]))
        assert ok.status_code == 200


async def test_a_key_rotated_by_another_process_is_picked_up(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, access_token_encryption="dir")
    async with running(settings) as first, running(settings) as second:
        await first.register()
        assert isinstance(second.runtime.encryption, KeyStore)
        await second.runtime.encryption.rotate(activate_after=0)
        tokens = await second.login()
        me = await first.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200


async def test_servers_with_different_env_keys_refuse_each_others_tokens(tmp_path: Path) -> None:
    other_key = b64(secrets.token_bytes(32))
    first = test_settings(tmp_path / "a", access_token_encryption="dir", access_token_key=ENV_KEY)
    (tmp_path / "a").mkdir()
    async with running(first) as server:
        tokens = await server.signup()
    both = f"{other_key},{ENV_KEY}"  # a rotation: new key first, the old still decrypts
    async with running(first.replace(access_token_key=both)) as server:
        assert (
            await server.client.get("/auth/me", headers=bearer(tokens["access_token"]))
        ).status_code == 200
        fresh = await server.login()
        assert header_of(fresh["access_token"])["kid"] != header_of(tokens["access_token"])["kid"]
    async with running(first.replace(access_token_key=other_key)) as server:
        await refused(server, tokens["access_token"])
