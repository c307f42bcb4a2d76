"""FastAPI's OAuth2PasswordBearer and the /docs "Authorize" button work with /auth/token."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer

from jotgate import errors, jwk, jwt

from .conftest import PASSWORD, Server

pytestmark = pytest.mark.anyio


# Module level: FastAPI resolves the string annotations below in this namespace.
oauth2 = OAuth2PasswordBearer(tokenUrl="http://testserver/auth/token")


def resource_app(jwks: dict[str, Any]) -> FastAPI:
    """A service of the kind users write: OAuth2PasswordBearer pointing at the auth server."""
    keys = jwk.KeySet.from_jwks(jwks)
    app = FastAPI()

    @app.get("/items")
    async def items(token: Annotated[str, Depends(oauth2)]) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                keys,
                algorithms=["ES256"],
                issuer="http://testserver",
                audience="jotgate-test",
                typ="at+jwt",
            )
        except errors.JoseError:
            raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"}) from None
        return {"sub": claims["sub"]}

    return app


async def test_a_fastapi_app_with_oauth2passwordbearer_gets_tokens_from_the_server(
    server: Server,
) -> None:
    registered = await server.register()
    jwks = (await server.client.get("/.well-known/jwks.json")).json()
    app = resource_app(jwks)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as service:
        schema = (await service.get("/openapi.json")).json()
        flow = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
        assert flow["type"] == "oauth2"
        token_url = flow["flows"]["password"]["tokenUrl"]
        assert (await service.get("/items")).status_code == 401
        # What Swagger UI's Authorize dialog sends for the password flow.
        issued = await server.client.post(
            token_url,
            content=f"grant_type=password&username=alice&password={PASSWORD.replace(' ', '+')}"
            "&scope=",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert issued.status_code == 200, issued.text
        access = issued.json()["access_token"]
        items = await service.get("/items", headers={"Authorization": f"Bearer {access}"})
        assert items.status_code == 200
        assert items.json() == {"sub": registered["id"]}


async def test_the_servers_own_openapi_offers_the_password_flow(server: Server) -> None:
    schema = (await server.client.get("/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme == {
        "type": "oauth2",
        "flows": {"password": {"scopes": {}, "tokenUrl": "/auth/token"}},
    }
    for path, method in [
        ("/auth/me", "get"),
        ("/auth/logout-all", "post"),
        ("/auth/verify", "get"),
    ]:
        assert schema["paths"][path][method]["security"] == [{"OAuth2PasswordBearer": []}]
    body = schema["paths"]["/auth/token"]["post"]["requestBody"]["content"]
    assert body["application/x-www-form-urlencoded"]["schema"]["required"] == ["grant_type"]
    docs = await server.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text


async def test_the_docs_authorize_flow_then_a_protected_call(server: Server) -> None:
    await server.register()
    # Swagger UI posts the form to tokenUrl, then sends the access token as a bearer.
    issued = await server.client.post(
        "/auth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": ""},
    )
    me = await server.client.get(
        "/auth/me", headers={"Authorization": "Bearer " + issued.json()["access_token"]}
    )
    assert me.json()["username"] == "alice"
