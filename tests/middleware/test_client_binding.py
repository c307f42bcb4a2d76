"""Fingerprint cookie (``fgp``) and address/user-agent binding (``bnd``) at the verifier.

Tokens here are made with ``jwt.encode`` carrying the claims the auth server
would add; tests/middleware/test_client_binding_server.py uses the real server.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jotgate.middleware import (
    AuthError,
    AuthMiddleware,
    ClientBindingError,
    DPoPRequest,
    RequestContext,
    Verifier,
    WSGIAuthMiddleware,
)
from jotgate.middleware.client_binding import digest
from jotgate.middleware.context import client_address, context_from_environ, context_from_scope
from jotgate.middleware.flask import current_claims
from jotgate.middleware.flask import require_token as flask_require_token
from jotgate.middleware.transport import Credentials
from jotgate.server.bindings import Binding

from .conftest import MakeToken, make_verifier

FINGERPRINT = "s3cr3t-fingerprint-value-0123456789abcdefghij"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"


def with_cookie(cookie: str, **more: Any) -> RequestContext:
    return RequestContext(cookies=cookie, **more)


def refused(verifier: Verifier, token: str, request: RequestContext | None) -> AuthError:
    with pytest.raises(ClientBindingError) as caught:
        verifier.verify(token, request=request)
    failure = verifier.failure(caught.value)
    assert (failure.status, failure.code) == (401, "invalid_token")
    assert "bound to" in failure.message
    assert failure.headers[0][0] == "WWW-Authenticate"
    return failure


def test_digest_is_the_servers() -> None:
    claims = Binding(fingerprint=FINGERPRINT, bound_to="ua:" + UA).claims()
    assert claims["fgp"] == digest(FINGERPRINT)
    assert claims["bnd"] == digest("ua:" + UA)


def test_fingerprint_needs_the_matching_cookie(make_token: MakeToken) -> None:
    verifier = make_verifier()
    token = make_token(fgp=digest(FINGERPRINT))
    assert verifier.verify(token, request=with_cookie(f"jotgate_fgp={FINGERPRINT}")).sub
    assert verifier.verify(token, request=with_cookie(f"a=1; __Host-Fgp={FINGERPRINT}; b=2")).sub
    failure = refused(verifier, token, RequestContext())
    assert "fingerprint cookie" in failure.message
    refused(verifier, token, with_cookie("jotgate_fgp=" + "a" * 43))
    refused(verifier, token, with_cookie(f"other={FINGERPRINT}"))
    refused(verifier, token, with_cookie("jotgate_fgp="))


def test_the_cache_never_skips_the_binding(make_token: MakeToken) -> None:
    verifier = make_verifier()
    token = make_token(fgp=digest(FINGERPRINT), bnd=digest("ua:" + UA))
    good = with_cookie(f"jotgate_fgp={FINGERPRINT}", user_agent=UA)
    assert verifier.verify(token, request=good).sub
    assert verifier.cache_len() == 1
    refused(verifier, token, with_cookie(f"jotgate_fgp={FINGERPRINT}", user_agent="curl/8"))
    refused(verifier, token, RequestContext(user_agent=UA))
    assert verifier.verify(token, request=good).sub  # still cached, still good


def test_a_bound_token_without_a_request_is_refused(make_token: MakeToken) -> None:
    verifier = make_verifier()
    for token in (make_token(fgp=digest(FINGERPRINT)), make_token(bnd=digest("ip:192.0.2.1"))):
        with pytest.raises(ClientBindingError, match="no request"):
            verifier.verify(token)
        with pytest.raises(ClientBindingError):
            verifier.verify(token, dpop=DPoPRequest("GET", "https://x/", ()))
    assert verifier.verify(make_token(sub="plain")).sub == "plain"  # unbound: as before


def test_bnd_matches_the_address_or_the_user_agent(make_token: MakeToken) -> None:
    verifier = make_verifier()
    by_ip = make_token(bnd=digest("ip:198.51.100.7"))
    assert verifier.verify(by_ip, request=RequestContext(client_ip="198.51.100.7")).sub
    failure = refused(verifier, by_ip, RequestContext(client_ip="198.51.100.8"))
    assert "another address or user agent" in failure.message
    # The other kind can never stand in: prefixes differ.
    refused(verifier, by_ip, RequestContext(user_agent="198.51.100.7"))
    by_ua = make_token(bnd=digest("ua:" + UA))
    assert verifier.verify(by_ua, request=RequestContext(user_agent=UA)).sub
    refused(verifier, by_ua, RequestContext(user_agent=UA + " "))
    refused(verifier, by_ua, RequestContext(client_ip="198.51.100.7"))


def test_malformed_binding_claims_are_refused(make_token: MakeToken) -> None:
    verifier = make_verifier()
    context = with_cookie(f"jotgate_fgp={FINGERPRINT}", client_ip="192.0.2.1", user_agent=UA)
    for claims in ({"fgp": 12}, {"fgp": ""}, {"bnd": ["x"]}, {"bnd": ""}):
        refused(verifier, make_token(**claims), context)


@pytest.mark.anyio
async def test_averify_checks_too(make_token: MakeToken) -> None:
    verifier = make_verifier()
    token = make_token(fgp=digest(FINGERPRINT))
    assert (await verifier.averify(token, request=with_cookie(f"jotgate_fgp={FINGERPRINT}"))).sub
    with pytest.raises(ClientBindingError):
        await verifier.averify(token, request=RequestContext())
    with pytest.raises(ClientBindingError):
        await verifier.averify(token)


def test_cookie_names_are_configurable(make_token: MakeToken) -> None:
    verifier = make_verifier(fingerprint_cookies=["fp"])
    token = make_token(fgp=digest(FINGERPRINT))
    assert verifier.verify(token, request=with_cookie(f"fp={FINGERPRINT}")).sub
    refused(verifier, token, with_cookie(f"jotgate_fgp={FINGERPRINT}"))
    with pytest.raises(ValueError, match="fingerprint_cookies"):
        make_verifier(fingerprint_cookies="fp")
    with pytest.raises(ValueError, match="fingerprint_cookies"):
        make_verifier(fingerprint_cookies=[])


def test_request_and_dpop_together_are_a_mistake(make_token: MakeToken) -> None:
    with pytest.raises(TypeError):
        make_verifier().verify(
            make_token(), request=RequestContext(), dpop=DPoPRequest("GET", "https://x/", ())
        )


def test_client_address() -> None:
    assert client_address("192.0.2.1") == "192.0.2.1"
    assert client_address("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not trusted
    # The right-most entry is what the proxy in front saw; the rest the client wrote.
    assert client_address("10.0.0.1", "1.2.3.4, 203.0.113.9", trust_forwarded=True) == "203.0.113.9"
    assert client_address("10.0.0.1", None, "203.0.113.5", trust_forwarded=True) == "203.0.113.5"
    assert client_address("10.0.0.1", "garbage", trust_forwarded=True) == "10.0.0.1"
    assert client_address("10.0.0.1", "[2001:db8::1]:443", trust_forwarded=True) == "2001:db8::1"
    assert client_address("10.0.0.1", "192.0.2.4:8080", trust_forwarded=True) == "192.0.2.4"
    assert client_address(None) is None


def test_contexts_from_scope_and_environ() -> None:
    found = Credentials("tok", "dpop", ("proof",))
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "path": "/notes",
        "raw_path": b"/notes",
        "client": ("192.0.2.1", 5000),
        "headers": [
            (b"host", b"api.example"),
            (b"cookie", b"a=1"),
            (b"cookie", b"jotgate_fgp=xyz"),
            (b"user-agent", b"UA/1"),
            (b"x-forwarded-for", b"203.0.113.9"),
        ],
    }
    context = context_from_scope(scope, found)
    assert context.cookie_values("jotgate_fgp") == ["xyz"]
    assert (context.client_ip, context.user_agent) == ("192.0.2.1", "UA/1")
    assert context.dpop == DPoPRequest("POST", "https://api.example/notes", ("proof",))
    assert context_from_scope(scope, found, trust_forwarded=True).client_ip == "203.0.113.9"
    bearer = context_from_scope(scope, Credentials("tok", "bearer", ()))
    assert (bearer.dpop, bearer.uri) == (None, "")
    environ = {
        "REQUEST_METHOD": "GET",
        "REMOTE_ADDR": "192.0.2.2",
        "HTTP_COOKIE": "jotgate_fgp=abc",
        "HTTP_USER_AGENT": "UA/2",
        "HTTP_X_REAL_IP": "203.0.113.8",
    }
    context = context_from_environ(environ, Credentials("tok", "cookie", ()))
    assert (context.client_ip, context.user_agent) == ("192.0.2.2", "UA/2")
    assert context.scheme == "cookie"
    assert context.cookie_values("jotgate_fgp") == ["abc"]
    assert context_from_environ(environ, None, trust_forwarded=True).client_ip == "203.0.113.8"


def starlette_app(verifier: Verifier, **options: Any) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["jotgate.claims"].sub})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AuthMiddleware, verifier=verifier, **options)
    return app


@pytest.mark.anyio
async def test_asgi_middleware_checks_cookie_and_address(make_token: MakeToken) -> None:
    token = make_token(sub="u1", fgp=digest(FINGERPRINT), bnd=digest("ip:198.51.100.7"))
    bearer = {"Authorization": f"Bearer {token}"}
    app = starlette_app(make_verifier())

    async def call(client: tuple[str, int], **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            return await http.get("/me", **kwargs)

    cookie = {"Cookie": f"jotgate_fgp={FINGERPRINT}"}
    good = await call(("198.51.100.7", 1234), headers={**bearer, **cookie})
    assert (good.status_code, good.json()) == (200, {"sub": "u1"})
    for client, headers in (
        (("198.51.100.7", 1234), bearer),  # no cookie
        (("198.51.100.8", 1234), {**bearer, **cookie}),  # another address
        (("198.51.100.8", 1234), {**bearer, **cookie, "X-Forwarded-For": "198.51.100.7"}),
    ):
        answer = await call(client, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_token"
        assert "bound to another client" in answer.json()["message"]

    # Behind a trusted proxy, the address is the one it appended.
    app = starlette_app(make_verifier(), trust_forwarded=True)
    proxied = {**bearer, **cookie, "X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    assert (await call(("10.0.0.1", 1), headers=proxied)).status_code == 200
    spoofed = {**bearer, **cookie, "X-Forwarded-For": "198.51.100.7, 6.6.6.6"}
    assert (await call(("10.0.0.1", 1), headers=spoofed)).status_code == 401


def test_flask_and_wsgi_check_cookie_and_user_agent(make_token: MakeToken) -> None:
    token = make_token(sub="f1", fgp=digest(FINGERPRINT), bnd=digest("ua:" + UA))
    app = Flask(__name__)

    @app.get("/me")
    @flask_require_token(make_verifier())
    def me() -> dict[str, Any]:
        return {"sub": current_claims().sub}

    http = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "User-Agent": UA}
    http.set_cookie("jotgate_fgp", FINGERPRINT)
    assert http.get("/me", headers=headers).json == {"sub": "f1"}
    other = http.get("/me", headers={**headers, "User-Agent": "curl/8.0"})
    assert (other.status_code, other.json["error"]) == (401, "invalid_token")
    http.delete_cookie("jotgate_fgp")
    assert http.get("/me", headers=headers).status_code == 401

    wrapped = Flask(__name__)

    @wrapped.get("/me")
    def plain() -> dict[str, Any]:
        return {"ok": True}

    wrapped.wsgi_app = WSGIAuthMiddleware(  # type: ignore[method-assign]
        wrapped.wsgi_app, make_verifier()
    )
    client = wrapped.test_client()
    assert client.get("/me", headers=headers).status_code == 401
    client.set_cookie("jotgate_fgp", FINGERPRINT)
    assert client.get("/me", headers=headers).json == {"ok": True}


def test_auth_error_for_client_binding() -> None:
    failure = AuthError.from_jose(ClientBindingError("the access token is bound to another client"))
    assert failure.status == 401
    assert failure.code == "invalid_token"
    assert dict(failure.headers)["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.anyio
async def test_fastapi_dependency_checks_the_fingerprint(make_token: MakeToken) -> None:
    from fastapi import Depends, FastAPI

    from jotgate.middleware.claims import Claims
    from jotgate.middleware.fastapi import install, require_token

    app = install(FastAPI())
    guard = require_token(make_verifier())

    @app.get("/me")
    async def me(claims: Claims = Depends(guard)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims.sub}

    token = make_token(sub="fa", fgp=digest(FINGERPRINT))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        bearer = {"Authorization": f"Bearer {token}"}
        answer = await http.get("/me", headers={**bearer, "Cookie": f"jotgate_fgp={FINGERPRINT}"})
        assert answer.json() == {"sub": "fa"}
        refused_answer = await http.get("/me", headers=bearer)
        assert refused_answer.status_code == 401
        assert refused_answer.json()["error"] == "invalid_token"
        assert "bound to another client" in refused_answer.json()["message"]
