"""Verifier over jotgate.jwks.RemoteKeySet, fetching from a real Starlette JWKS endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jotgate import errors, jwk
from jotgate.middleware import Verifier

from .conftest import AUDIENCE, ISSUER, MakeToken

jwks = pytest.importorskip("jotgate.jwks")


class KeyServer:
    """A JWKS endpoint whose key set can be rotated; counts fetches."""

    def __init__(self, *keys: jwk.Key) -> None:
        self.keys = jwk.KeySet(key.public_key() for key in keys)
        self.fetches = 0

        async def document(request: Request) -> JSONResponse:
            self.fetches += 1
            return JSONResponse(self.keys.to_jwks(), headers={"Cache-Control": "max-age=600"})

        self.app = Starlette(routes=[Route("/.well-known/jwks.json", document)])

    def remote(self, **options: Any) -> Any:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))
        return jwks.RemoteKeySet(
            "http://auth.test/.well-known/jwks.json", client=client, cooldown=0, **options
        )


@pytest.mark.anyio
async def test_averify_awaits_the_key_set_for_the_tokens_kid(
    make_token: MakeToken, key: jwk.Key
) -> None:
    server = KeyServer(key)
    verifier = Verifier(
        server.remote(), algorithms=["ES256"], issuer=ISSUER, audience=AUDIENCE, typ="at+jwt"
    )
    assert verifier.is_remote
    token = make_token(sub="remote-user")
    assert (await verifier.averify(token)).sub == "remote-user"
    assert (await verifier.averify(make_token())).sub
    assert server.fetches == 1, "a fresh key set is reused"

    rotated = jwk.Key.generate("ES256", kid="k-new")
    server.keys = jwk.KeySet([key.public_key(), rotated.public_key()])
    assert (await verifier.averify(make_token(signer=rotated, sub="after"))).sub == "after"
    assert server.fetches == 2, "an unknown kid refetches once"


@pytest.mark.anyio
async def test_an_unknown_kid_is_an_invalid_token(make_token: MakeToken, key: jwk.Key) -> None:
    verifier = Verifier(
        KeyServer(key).remote(), algorithms=["ES256"], issuer=ISSUER, audience=AUDIENCE
    )
    stranger = jwk.Key.generate("ES256", kid="k-stranger")
    with pytest.raises(errors.KeyNotFoundError):
        await verifier.averify(make_token(signer=stranger))


@pytest.mark.anyio
async def test_encrypted_token_asks_for_the_inner_tokens_kid(
    make_token: MakeToken, key: jwk.Key
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from jotgate import jwt

    server = KeyServer(key)
    recipient = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), kid="enc-kid")
    verifier = Verifier(
        server.remote(), algorithms=["ES256"], issuer=ISSUER, audience=AUDIENCE, typ="at+jwt",
        decrypt_with=recipient, decrypt_algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"],
    )  # fmt: skip
    rotated = jwk.Key.generate("ES256", kid="k-next")
    server.keys = jwk.KeySet([key.public_key(), rotated.public_key()])
    _, body = jwt.decode_unverified(make_token(sub="enc-remote"))
    token = jwt.encode(body, rotated, typ="at+jwt", encrypt_to=recipient)
    # The JWE header's kid is the encryption key's; the key set is asked for "k-next".
    assert (await verifier.averify(token)).sub == "enc-remote"
    assert verifier.verify(token).sub == "enc-remote"
