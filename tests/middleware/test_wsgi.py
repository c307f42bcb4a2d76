"""WSGI: the middleware and decorators under Flask and Django, with the same answers as ASGI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flask import Flask

from jotgate import jwk
from jotgate.middleware import Verifier, WSGIAuthMiddleware
from jotgate.middleware.flask import current_claims, require_token

from .conftest import AUDIENCE, ISSUER, MakeToken, make_verifier


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def flask_app(verifier: Verifier | None, **decorator: Any) -> Flask:
    app = Flask(__name__)

    @app.get("/me")
    @require_token(verifier, **decorator)
    def me() -> dict[str, Any]:
        return {"sub": current_claims().sub}

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"open": True}

    return app


def test_flask_decorator_verifies_and_exposes_claims(make_token: MakeToken) -> None:
    http = flask_app(make_verifier(), expired_status=419).test_client()
    assert http.get("/me", headers=bearer(make_token(sub="f-1"))).json == {"sub": "f-1"}
    expired = http.get("/me", headers=bearer(make_token(lifetime=-1)))
    assert expired.status_code == 419
    assert expired.json == {"error": "token_expired", "message": expired.json["message"]}
    missing = http.get("/me")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert http.get("/open").json == {"open": True}


def test_flask_decorator_checks_roles_and_scopes(make_token: MakeToken) -> None:
    http = flask_app(make_verifier(), roles=["admin"]).test_client()
    denied = http.get("/me", headers=bearer(make_token()))
    assert denied.status_code == 403
    assert denied.json["error"] == "insufficient_scope"
    assert denied.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
    assert http.get("/me", headers=bearer(make_token(roles=["admin"]))).status_code == 200


def test_wsgi_middleware_in_front_of_flask(make_token: MakeToken, other_key: jwk.Key) -> None:
    app = flask_app(None)  # the decorator reuses the middleware's claims
    app.wsgi_app = WSGIAuthMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, make_verifier(), exclude=("/open",), cookie="at"
    )
    http = app.test_client()
    assert http.get("/me", headers=bearer(make_token(sub="m-1"))).json == {"sub": "m-1"}
    http.set_cookie("at", make_token(sub="m-2"))
    assert http.get("/me").json == {"sub": "m-2"}
    http.delete_cookie("at")
    assert http.get("/open").status_code == 200
    forged = http.get("/me", headers=bearer(make_token(signer=other_key)))
    assert forged.status_code == 401
    assert forged.json["error"] == "invalid_token"
    assert forged.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_express_verify_token_in_three_lines_for_flask(make_token: MakeToken) -> None:
    """docs/middleware.md's Flask version of the reference article's verifyToken."""
    secret = jwk.Key.from_secret(b"a-32-byte-or-longer-shared-secret!!", alg="HS256")
    app = Flask(__name__)

    verify_token = require_token(Verifier(secret, algorithms=["HS256"]), expired_status=419)

    @app.get("/test")
    @verify_token
    def test() -> dict[str, Any]:
        return current_claims().to_dict()

    http = app.test_client()
    good = make_token(signer=secret, aud=None, iss=None, typ="JWT", uid=7)
    assert http.get("/test", headers=bearer(good)).json["uid"] == 7
    expired = http.get("/test", headers=bearer(make_token(signer=secret, aud=None, lifetime=-1)))
    assert (expired.status_code, expired.json["error"]) == (419, "token_expired")
    invalid = http.get("/test", headers=bearer(good[:-3] + "AAA"))
    assert (invalid.status_code, invalid.json["error"]) == (401, "invalid_token")


def test_sync_verification_with_a_remote_key_set(make_token: MakeToken, key: jwk.Key) -> None:
    jwks = pytest.importorskip("jotgate.jwks")
    key_server = Flask("keys")

    @key_server.get("/jwks.json")
    def document() -> dict[str, Any]:
        return jwk.KeySet([key.public_key()]).to_jwks()

    remote = jwks.RemoteKeySet(
        "http://keys.test/jwks.json",
        sync_client=httpx.Client(transport=httpx.WSGITransport(app=key_server)),
    )
    verifier = Verifier(remote, algorithms=["ES256"], issuer=ISSUER, audience=AUDIENCE)
    http = flask_app(verifier).test_client()
    assert http.get("/me", headers=bearer(make_token(sub="r-1"))).json == {"sub": "r-1"}
