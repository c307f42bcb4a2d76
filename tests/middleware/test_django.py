"""Django: the require_token view decorator through Django's own test client."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from jotgate.middleware import Verifier

from .conftest import MakeToken, make_verifier

django = pytest.importorskip("django")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _django_client(verifier: Verifier) -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            ROOT_URLCONF=__name__ + "_urls",
            ALLOWED_HOSTS=["testserver"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            DATABASES={},
        )
        django.setup()
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import path

    from jotgate.middleware.django import require_token as django_require_token

    @django_require_token(verifier, scopes=["notes:read"], expired_status=419)
    def notes(request: Any) -> JsonResponse:
        return JsonResponse({"sub": request.claims.sub})

    urls = types.ModuleType(__name__ + "_urls")
    urls.urlpatterns = [path("notes", notes)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    from django.urls import clear_url_caches

    clear_url_caches()
    return Client()


def test_django_decorator_sets_request_claims(make_token: MakeToken) -> None:
    http = _django_client(make_verifier())
    assert http.get("/notes", headers=bearer(make_token(sub="d-1"))).json() == {"sub": "d-1"}
    expired = http.get("/notes", headers=bearer(make_token(lifetime=-1)))
    assert (expired.status_code, expired.json()["error"]) == (419, "token_expired")
    assert expired["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    lacking = http.get("/notes", headers=bearer(make_token(scope="other")))
    assert (lacking.status_code, lacking.json()["error"]) == (403, "insufficient_scope")
    missing = http.get("/notes")
    assert (missing.status_code, missing["WWW-Authenticate"]) == (401, "Bearer")


def test_django_decorator_checks_dpop_proofs(make_token: MakeToken) -> None:
    from jotgate import dpop, jwk

    client_key = jwk.Key.generate("ES256")
    http = _django_client(make_verifier())
    token = make_token(sub="d-dpop", cnf={"jkt": client_key.thumbprint()})
    url = "http://testserver/notes"
    proof = dpop.create_proof(client_key, "GET", url, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert http.get("/notes", headers=headers).json() == {"sub": "d-dpop"}
    replay = http.get("/notes", headers=headers)
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_dpop_proof")
    assert replay["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    as_bearer = http.get("/notes", headers=bearer(token))
    assert (as_bearer.status_code, as_bearer.json()["error"]) == (401, "invalid_token")


def test_django_decorator_checks_fingerprint_and_user_agent(make_token: MakeToken) -> None:
    from jotgate.middleware.client_binding import digest

    fingerprint = "django-fingerprint-0123456789abcdefghijklmnop"
    token = make_token(sub="d-2", fgp=digest(fingerprint), bnd=digest("ua:DjangoTest/1"))
    http = _django_client(make_verifier())
    headers = {**bearer(token), "User-Agent": "DjangoTest/1"}
    missing = http.get("/notes", headers=headers)
    assert (missing.status_code, missing.json()["error"]) == (401, "invalid_token")
    assert "bound to another client" in missing.json()["message"]
    http.cookies["jotgate_fgp"] = fingerprint
    assert http.get("/notes", headers=headers).json() == {"sub": "d-2"}
    other = http.get("/notes", headers={**headers, "User-Agent": "curl/8"})
    assert (other.status_code, other.json()["error"]) == (401, "invalid_token")
