"""Encrypted access tokens and DPoP-bound tokens at a real gateway (uvicorn, echo upstream)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from jotgate import dpop, jwk, jwt
from jotgate.gateway import SettingsError, load

from .conftest import GatewayFactory, Served, need_redis
from .servers import AuthStandIn, header_values

CLIENT_KEY = jwk.Key.generate("ES256")
RECIPIENT = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), kid="enc-1")
STRANGER = jwk.Key.from_key_object(ec.generate_private_key(ec.SECP256R1()), kid="enc-1")
AUTH = {"auth_server": "http://127.0.0.1:8000"}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What ``jotgate keys export --use enc --private`` writes: a private JWK Set."""
    path = tmp_path_factory.mktemp("keys") / "token-decryption.jwks"
    path.write_text(json.dumps({"keys": [RECIPIENT.to_jwk(private=True)]}))
    return str(path)


def encrypted(stand_in: AuthStandIn, to: jwk.Key = RECIPIENT, **claims: Any) -> str:
    _, body = jwt.decode_unverified(stand_in.token(**claims))
    return jwt.encode(body, stand_in.keys[0], typ="at+jwt", encrypt_to=to)


def bound(stand_in: AuthStandIn, **claims: Any) -> str:
    return stand_in.token(cnf={"jkt": CLIENT_KEY.thumbprint()}, **claims)


def dpop_headers(token: str, method: str, url: str, **proof: Any) -> dict[str, str]:
    value = dpop.create_proof(CLIENT_KEY, method, url, access_token=token, **proof)
    return {"Authorization": f"DPoP {token}", "DPoP": value}


def get(served: Served, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(served.url + path, headers=headers, trust_env=False, timeout=10)


def test_encrypted_tokens_pass_and_plain_ones_do_not(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn, key_file: str
) -> None:
    strict = make_gateway([f"/api={upstream.url}"], access_token_decryption_key=key_file)
    token = encrypted(stand_in, sub="enc-user")
    ok = get(strict, "/api/x", {"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    assert header_values(ok.json(), "x-user-id") == ["enc-user"]
    for bad in (stand_in.token(), encrypted(stand_in, to=STRANGER), token[:-4] + "AAAA"):
        refused = get(strict, "/api/x", {"Authorization": f"Bearer {bad}"})
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
    lenient = make_gateway(
        [f"/api={upstream.url}"], access_token_decryption_key=key_file,
        allow_unencrypted_tokens="true",
    )  # fmt: skip
    for either in (stand_in.token(), token):
        assert get(lenient, "/api/x", {"Authorization": f"Bearer {either}"}).status_code == 200


def test_decryption_and_dpop_settings_are_checked(tmp_path: Path, key_file: str) -> None:
    public_only = tmp_path / "public.jwks"
    public_only.write_text(json.dumps({"keys": [RECIPIENT.to_jwk()]}))
    garbage = tmp_path / "garbage.jwks"
    garbage.write_text("{not json")
    routes = ["/api=http://127.0.0.1:9001"]
    cases = {
        "access_token_decryption_key": [str(tmp_path / "missing"), str(public_only), str(garbage)],
        "access_token_decrypt_algorithms": ["RSA1_6", ""],
        "access_token_encryptions": ["A257GCM"],
        "dpop_replay": ["disk"],
        "dpop_nonce_secret": ["too short"],
        "dpop_algorithms": ["HS256", "none"],
        "dpop_max_age": ["1h"],
    }
    for name, values in cases.items():
        for value in values:
            with pytest.raises(SettingsError) as caught:
                load(None, {**AUTH, name: value}, routes=routes)
            assert caught.value.problems[0].startswith(name), caught.value.problems
            assert "{not" not in str(caught.value)
    with pytest.raises(SettingsError, match="dpop_replay: 'redis' needs redis_url"):
        load(None, {**AUTH, "dpop_replay": "redis"}, routes=routes)
    settings = load(
        None, {**AUTH, "access_token_decryption_key": key_file, "dpop_max_age": "30s",
               "access_token_decrypt_algorithms": "ECDH-ES+A256KW"}, routes=routes,
    )  # fmt: skip
    assert settings.access_token_decrypt_algorithms == ("ECDH-ES+A256KW",)
    assert settings.dpop_max_age == 30
    assert "nonce" not in repr(load(None, {**AUTH, "dpop_nonce_secret": "n" * 32}, routes=routes))


@pytest.fixture(scope="module")
def dpop_gateway(auth_server: Served, upstream: Served) -> Any:
    from .conftest import start_gateway

    up = upstream.url
    served = start_gateway(auth_server.url, routes=[f"/api={up}", f"/keep={up} keep_authorization"])
    yield served
    served.thread.stop()


def test_bound_token_needs_its_proof_and_the_upstream_never_sees_it(
    dpop_gateway: Served, stand_in: AuthStandIn
) -> None:
    token = bound(stand_in, sub="dpop-user")
    url = dpop_gateway.url + "/api/notes"
    headers = dpop_headers(token, "GET", url)
    ok = get(dpop_gateway, "/api/notes?x=1", headers)
    assert ok.status_code == 200, ok.text
    echo = ok.json()
    assert header_values(echo, "x-user-id") == ["dpop-user"]
    assert header_values(echo, "dpop") == header_values(echo, "authorization") == []
    replay = get(dpop_gateway, "/api/notes", headers)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_dpop_proof"
    assert replay.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert replay.json()["message"].endswith("(replay)")
    elsewhere = get(dpop_gateway, "/api/other", dpop_headers(token, "GET", url))
    assert elsewhere.json()["message"].endswith("(htu)")
    missing = get(dpop_gateway, "/api/notes", {"Authorization": f"DPoP {token}"})
    assert missing.json()["error"] == "invalid_dpop_proof"
    as_bearer = get(dpop_gateway, "/api/notes", {"Authorization": f"Bearer {token}"})
    assert (as_bearer.status_code, as_bearer.json()["error"]) == (401, "invalid_token")
    kept = get(dpop_gateway, "/keep/x", dpop_headers(token, "GET", dpop_gateway.url + "/keep/x"))
    assert kept.status_code == 200
    assert len(header_values(kept.json(), "dpop")) == 1


def test_forward_auth_reads_the_original_request_only_when_trusted(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    token = bound(stand_in, sub="fa-user")
    original = {
        "X-Original-Method": "DELETE",
        "X-Original-URI": "/api/notes/7?force=1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "edge.example.test",
    }
    proof_for_original = "https://edge.example.test/api/notes/7"
    for trusted, status in (("false", 401), ("true", 200)):
        served = make_gateway([f"/api={upstream.url}"], trust_forwarded=trusted)
        headers = {**dpop_headers(token, "DELETE", proof_for_original), **original}
        response = get(served, "/_jotgate/verify", headers)
        assert response.status_code == status, response.text
        if status == 200:
            assert response.headers["x-user-id"] == "fa-user"
        else:
            assert response.headers["x-auth-error"] == "invalid_dpop_proof"
            assert response.json()["message"].endswith("(htm)")


def test_nonce_flow_through_the_gateway(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    served = make_gateway([f"/api={upstream.url}"], dpop_nonce_secret=os.urandom(24).hex())
    token = bound(stand_in)
    url = served.url + "/api/n"
    first = get(served, "/api/n", dpop_headers(token, "GET", url))
    assert (first.status_code, first.json()["error"]) == (401, "use_dpop_nonce")
    nonce = first.headers["dpop-nonce"]
    retry = get(served, "/api/n", dpop_headers(token, "GET", url, nonce=nonce))
    assert retry.status_code == 200, retry.text


def test_redis_replay_cache_spans_gateway_processes(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    need_redis()
    options = {"redis_url": "redis://127.0.0.1:6379/0", "dpop_replay": "redis"}
    one = make_gateway([f"/api={upstream.url}"], **options)
    two = make_gateway([f"/api={upstream.url}"], **options)
    token = bound(stand_in)
    # Both listen on 127.0.0.1, so one proof names a URI valid at either but for the port.
    value = dpop.create_proof(CLIENT_KEY, "GET", one.url + "/api/r", access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": value, "Host": one.url[7:]}
    assert get(one, "/api/r", headers).status_code == 200
    replay = get(two, "/api/r", headers)
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_dpop_proof")
    assert replay.json()["message"].endswith("(replay)")


def test_an_unreachable_replay_store_is_503_not_500(
    make_gateway: GatewayFactory, upstream: Served, stand_in: AuthStandIn
) -> None:
    # Nothing listens on port 1: the revocation feed keeps retrying in the
    # background and the replay cache cannot answer.
    served = make_gateway(
        [f"/api={upstream.url}"], redis_url="redis://127.0.0.1:1/0", dpop_replay="redis"
    )
    token = bound(stand_in)
    response = get(served, "/api/z", dpop_headers(token, "GET", served.url + "/api/z"))
    assert (response.status_code, response.json()["error"]) == (503, "temporarily_unavailable")
    assert response.headers["retry-after"] == "1"
    plain = get(served, "/api/z", {"Authorization": f"Bearer {stand_in.token()}"})
    assert plain.status_code == 200
    own = served.url + "/_jotgate/verify"  # untrusted: the check request's own URI
    check = get(served, "/_jotgate/verify", dpop_headers(token, "GET", own))
    assert check.status_code == 401  # forward-auth speaks 200/401/403 only
    assert check.headers["x-auth-error"] == "temporarily_unavailable"


def test_toml_flags_and_environment_name_the_same_settings(
    tmp_path: Path, key_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from jotgate.cli.gateway import NONCE_SECRET_ENV, gateway_settings

    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
        auth_server = "http://127.0.0.1:8000"
        access_token_decryption_key = "{key_file}"
        access_token_decrypt_algorithms = ["ECDH-ES+A256KW"]
        access_token_encryptions = ["A256GCM", "A128GCM"]
        allow_unencrypted_tokens = true
        dpop_max_age = "30s"
        dpop_algorithms = ["ES256", "EdDSA"]

        [[routes]]
        prefix = "/api"
        upstream = "http://127.0.0.1:9001"
        """
    )
    secret = "s" * 32
    monkeypatch.setenv(NONCE_SECRET_ENV, secret)
    flags = {
        "setting_auth_server": "http://127.0.0.1:8000",
        "setting_access_token_decryption_key": key_file,
        "setting_access_token_decrypt_algorithms": "ECDH-ES+A256KW",
        "setting_access_token_encryptions": "A256GCM,A128GCM",
        "setting_allow_unencrypted_tokens": "true",
        "setting_dpop_max_age": "30s",
        "setting_dpop_algorithms": "ES256,EdDSA",
    }
    args = argparse.Namespace(
        config=None, route=["/api=http://127.0.0.1:9001"], public_route=[], **flags
    )
    from_flags = gateway_settings(args)
    from_file = load(config, {"dpop_nonce_secret": secret})
    assert from_flags == from_file
    assert from_file.dpop_nonce_secret == secret
    assert from_file.access_token_encryptions == ("A256GCM", "A128GCM")
    assert from_file.dpop_algorithms == ("ES256", "EdDSA")
