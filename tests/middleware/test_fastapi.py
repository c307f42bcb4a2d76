"""FastAPI dependencies and Litestar: typed claims, roles and scopes, DESIGN.md's answers."""

# No `from __future__ import annotations`: FastAPI and Litestar read the
# annotations of routes defined inside functions at runtime.

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, WebSocket
from starlette.testclient import TestClient, WebSocketDenialResponse

from jotgate import jwk
from jotgate.middleware import AuthMiddleware, Claims, Verifier
from jotgate.middleware.fastapi import install, require_token

from .conftest import MakeToken, make_verifier


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def notes_app(verifier: Verifier | None, *, middleware: bool = False) -> FastAPI:
    app = install(FastAPI())
    if middleware:
        app.add_middleware(AuthMiddleware, verifier=verifier, required=False)
    reader = require_token(verifier, scopes=["notes:read"])
    admin = require_token(verifier, roles=["admin"], scopes=["notes:write"])

    @app.get("/notes")
    async def notes(claims: Annotated[Claims, Depends(reader)]) -> dict[str, Any]:
        return {"sub": claims.sub, "scopes": list(claims.scopes)}

    @app.delete("/notes")
    async def wipe(claims: Annotated[Claims, Depends(admin)]) -> dict[str, Any]:
        return {"wiped_by": claims.sub}

    @app.websocket("/live")
    async def live(websocket: WebSocket, claims: Annotated[Claims, Depends(reader)]) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": claims.sub})
        await websocket.close()

    return app


@pytest.mark.anyio
@pytest.mark.parametrize("middleware", [False, True], ids=["dependency-only", "with-middleware"])
async def test_require_token_returns_typed_claims(make_token: MakeToken, middleware: bool) -> None:
    app = notes_app(make_verifier(), middleware=middleware)
    async with client(app) as http:
        answer = await http.get("/notes", headers=bearer(make_token(sub="n-1")))
    assert answer.status_code == 200
    assert answer.json() == {"sub": "n-1", "scopes": ["notes:read"]}


@pytest.mark.anyio
@pytest.mark.parametrize("middleware", [False, True], ids=["dependency-only", "with-middleware"])
async def test_missing_roles_or_scopes_are_403_insufficient_scope(
    make_token: MakeToken, middleware: bool
) -> None:
    app = notes_app(make_verifier(), middleware=middleware)
    async with client(app) as http:
        user = await http.delete("/notes", headers=bearer(make_token()))
        admin = await http.delete(
            "/notes", headers=bearer(make_token(sub="a-1", roles=["admin"], scope="notes:write"))
        )
    assert user.status_code == 403
    assert user.json()["error"] == "insufficient_scope"
    assert user.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="admin notes:write"'
    )
    assert admin.json() == {"wiped_by": "a-1"}


@pytest.mark.anyio
@pytest.mark.parametrize("middleware", [False, True], ids=["dependency-only", "with-middleware"])
async def test_401_answers_follow_design(make_token: MakeToken, middleware: bool) -> None:
    app = notes_app(make_verifier(), middleware=middleware)
    async with client(app) as http:
        missing = await http.get("/notes")
        expired = await http.get("/notes", headers=bearer(make_token(lifetime=-1)))
        forged = await http.get(
            "/notes", headers=bearer(make_token(signer=jwk.Key.generate("ES256", kid="k1")))
        )
    assert (missing.status_code, missing.json()["error"]) == (401, "missing_token")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (expired.status_code, expired.json()["error"]) == (401, "token_expired")
    assert (forged.status_code, forged.json()["error"]) == (401, "invalid_token")
    assert set(forged.json()) == {"error", "message"}


@pytest.mark.anyio
async def test_express_verify_token_in_three_lines(make_token: MakeToken) -> None:
    """docs/middleware.md's FastAPI version of the reference article's verifyToken."""
    secret = jwk.Key.from_secret(b"a-32-byte-or-longer-shared-secret!!", alg="HS256")
    app = FastAPI()

    verify_token = require_token(Verifier(secret, algorithms=["HS256"]), expired_status=419)
    install(app)

    @app.get("/test")
    async def test(claims: Claims = Depends(verify_token)) -> dict[str, Any]:  # noqa: B008
        return claims.to_dict()

    good = make_token(signer=secret, aud=None, iss=None, typ="JWT", uid=7)
    async with client(app) as http:
        ok = await http.get("/test", headers=bearer(good))
        expired = await http.get(
            "/test", headers=bearer(make_token(signer=secret, aud=None, lifetime=-1))
        )
        invalid = await http.get("/test", headers=bearer(good[:-3] + "AAA"))
    assert ok.json()["uid"] == 7
    assert (expired.status_code, expired.json()["error"]) == (419, "token_expired")
    assert (invalid.status_code, invalid.json()["error"]) == (401, "invalid_token")


def test_websocket_routes_can_depend_on_require_token(make_token: MakeToken) -> None:
    with TestClient(notes_app(make_verifier())) as http:
        with http.websocket_connect("/live", headers=bearer(make_token(sub="w-1"))) as ws:
            assert ws.receive_json() == {"sub": "w-1"}
        with pytest.raises(WebSocketDenialResponse) as denied, http.websocket_connect("/live"):
            pass
    assert denied.value.status_code == 401
    assert denied.value.json()["error"] == "missing_token"


@pytest.mark.anyio
async def test_without_verifier_or_middleware_it_is_a_configuration_error() -> None:
    app = notes_app(None)
    async with client(app) as http:
        with pytest.raises(RuntimeError, match="AuthMiddleware"):
            await http.get("/notes")


def test_roles_must_be_a_list_not_a_string(verifier: Verifier) -> None:
    with pytest.raises(TypeError):
        require_token(verifier, roles="admin")


@pytest.mark.anyio
async def test_the_asgi_middleware_works_under_litestar(make_token: MakeToken) -> None:
    litestar = pytest.importorskip("litestar")
    from litestar.middleware import DefineMiddleware

    @litestar.get("/me")
    async def me(request: litestar.Request[Any, Any, Any]) -> dict[str, Any]:
        claims = request.scope["jotgate.claims"]  # type: ignore[typeddict-item]
        return {"sub": claims.sub}

    verifier = make_verifier()
    app = litestar.Litestar(
        route_handlers=[me],
        middleware=[DefineMiddleware(AuthMiddleware, verifier=verifier, expired_status=419)],
    )
    async with client(app) as http:
        ok = await http.get("/me", headers=bearer(make_token(sub="ls-1")))
        expired = await http.get("/me", headers=bearer(make_token(lifetime=-1)))
    assert ok.json() == {"sub": "ls-1"}
    assert (expired.status_code, expired.json()["error"]) == (419, "token_expired")


@pytest.mark.anyio
async def test_without_install_a_refused_token_is_still_a_401_never_a_500(
    make_token: MakeToken,
) -> None:
    app = FastAPI()  # no install(): FastAPI's own HTTPException handler renders it
    reader = require_token(make_verifier(), scopes=["notes:read"])

    @app.get("/notes")
    async def notes(claims: Annotated[Claims, Depends(reader)]) -> dict[str, Any]:
        return {"sub": claims.sub}

    async with client(app) as http:
        missing = await http.get("/notes")
        forged = await http.get("/notes", headers=bearer(make_token()[:-4] + "AAAA"))
        lacking = await http.get("/notes", headers=bearer(make_token(scope="other")))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["detail"]["error"] == "missing_token"
    assert forged.status_code == 401
    assert forged.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert forged.json()["detail"]["error"] == "invalid_token"
    assert lacking.status_code == 403
    assert lacking.json()["detail"]["error"] == "insufficient_scope"
