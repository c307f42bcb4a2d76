"""Encrypted access tokens (nested JWT) at the verifier and through a real ASGI app."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jotgate import errors, jwk, jwt
from jotgate.middleware import AuthMiddleware, Verifier

from .conftest import _KEY, MakeToken, make_verifier

pytestmark = pytest.mark.anyio

# Recipient keys: one EC key for ECDH-ES+A256KW, one 32-byte secret for dir.
_EC = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), kid="enc-1")
_EC_OTHER = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), kid="enc-1")
_DIR = jwk.Key.from_secret(os.urandom(32), alg="dir", kid="dir-1")
_EC_SET = jwk.KeySet([_EC])  # a KeySet, as a JWKS file of encryption keys loads
_OPTIONS: dict[str, Any] = {
    "decrypt_with": _EC_SET,
    "decrypt_algorithms": ["ECDH-ES+A256KW", "dir"],
    "encryptions": ["A256GCM"],
}


def encrypted(make_token: MakeToken, to: jwk.Key, management: str, **claims: Any) -> str:
    """An auth-server-shaped access token, signed and then encrypted to ``to``."""
    plain = make_token(**claims)
    header, body = jwt.decode_unverified(plain)
    return jwt.encode(body, _KEY, typ=header["typ"], encrypt_to=to, key_management=management)


@pytest.mark.parametrize(("to", "management"), [(_EC, "ECDH-ES+A256KW"), (_DIR, "dir")])
def test_encrypted_token_is_decrypted_then_verified(
    make_token: MakeToken, to: jwk.Key, management: str
) -> None:
    verifier = make_verifier(**{**_OPTIONS, "decrypt_with": to})
    token = encrypted(make_token, to, management, sub="u-enc")
    assert token.count(".") == 4
    assert verifier.verify(token).sub == "u-enc"
    assert verifier.cache_len() == 1
    assert verifier.verify(token).sub == "u-enc"  # from the cache: no second decryption


def test_plain_token_is_refused_when_encryption_is_on(make_token: MakeToken) -> None:
    verifier = make_verifier(**_OPTIONS)
    with pytest.raises(errors.MalformedTokenError):
        verifier.verify(make_token())
    assert make_verifier(**_OPTIONS, allow_unencrypted=True).verify(make_token()).sub


def test_encrypted_token_without_a_decryption_key_is_refused(make_token: MakeToken) -> None:
    with pytest.raises(errors.MalformedTokenError):
        make_verifier().verify(encrypted(make_token, _EC, "ECDH-ES+A256KW"))


def test_wrong_key_and_disallowed_algorithm_fail_decryption(make_token: MakeToken) -> None:
    verifier = make_verifier(**_OPTIONS)
    with pytest.raises(errors.JoseError):
        verifier.verify(encrypted(make_token, _EC_OTHER, "ECDH-ES+A256KW"))
    only_ecdh = make_verifier(
        decrypt_with=_DIR, decrypt_algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"]
    )
    with pytest.raises(errors.JoseError):
        only_ecdh.verify(encrypted(make_token, _DIR, "dir"))
    with pytest.raises(errors.JoseError):
        make_verifier(**_OPTIONS).verify(encrypted(make_token, _DIR, "dir"))


def test_decryption_settings_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="decrypt_algorithms"):
        make_verifier(decrypt_with=_EC, encryptions=["A256GCM"])
    with pytest.raises(ValueError, match="encryptions"):
        make_verifier(decrypt_with=_EC, decrypt_algorithms=["ECDH-ES+A256KW"], encryptions=[])
    with pytest.raises(ValueError, match="need decrypt_with"):
        make_verifier(decrypt_algorithms=["dir"])
    with pytest.raises(TypeError):
        make_verifier(decrypt_with="secret", decrypt_algorithms=["dir"], encryptions=["A256GCM"])


def _app(verifier: Verifier) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["jotgate.claims"].sub})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AuthMiddleware, verifier=verifier)
    return app


async def test_every_decryption_failure_is_401_invalid_token(make_token: MakeToken) -> None:
    app = _app(make_verifier(**_OPTIONS))
    good = encrypted(make_token, _EC, "ECDH-ES+A256KW", sub="u-1")
    parts = good.split(".")
    bad_tokens = [
        encrypted(make_token, _EC_OTHER, "ECDH-ES+A256KW"),  # another recipient key
        make_token(),  # plain, while encryption is required
        ".".join([*parts[:3], parts[3][:-2] + "AA", parts[4]]),  # tampered ciphertext
        ".".join([*parts[:4], "AAAAAAAAAAAAAAAAAAAAAA"]),  # wrong tag
        "a.b.c.d.e",
        "....",
        "x" * 20_000 + "....",
        ".".join(["e30"] * 5),  # "{}" header
    ]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        ok = await client.get("/me", headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 200
        assert ok.json() == {"sub": "u-1"}
        for token in bad_tokens:
            response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token[:40]
            assert response.json()["error"] == "invalid_token"
            assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
