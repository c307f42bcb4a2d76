"""Proofs made by create_proof verify for the request they were made for, in every family."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from joserfc import jws as peer_jws
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry

from jotgate import _b64, dpop, errors, jwk

from .conftest import KEYS, TOKEN, URL, Forge


def parts(proof: str) -> tuple[dict[str, object], dict[str, object]]:
    head, body, _ = proof.split(".")
    return json.loads(_b64.decode(head)), json.loads(_b64.decode(body))


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_round_trip(alg: str, replay: dpop.MemoryReplayCache) -> None:
    key = KEYS[alg]
    proof = dpop.create_proof(key, "POST", URL, access_token=TOKEN)
    checked = dpop.verify_proof(
        proof,
        htm="POST",
        htu=URL,
        access_token=TOKEN,
        expected_jkt=key.thumbprint(),
        replay=replay,
    )
    assert checked.jkt == key.thumbprint()
    assert checked.key.thumbprint() == key.thumbprint()
    assert not checked.key.is_private
    assert checked.header["alg"] == alg
    assert checked.claims["ath"] == dpop.access_token_hash(TOKEN)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_the_header_carries_only_the_public_key(alg: str) -> None:
    key = KEYS[alg]
    header, _ = parts(dpop.create_proof(key, "GET", URL))
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == key.default_algorithm().name
    assert set(header) == {"typ", "alg", "jwk"}
    expected = {
        "EC": {"kty", "crv", "x", "y"},
        "OKP": {"kty", "crv", "x"},
        "RSA": {"kty", "n", "e"},
    }
    members = header["jwk"]
    assert isinstance(members, dict)
    assert set(members) == expected[key.kty]
    assert jwk.Key.from_jwk(members).thumbprint() == key.thumbprint()


def test_claims_of_a_new_proof(key: jwk.Key) -> None:
    proof = dpop.create_proof(key, "DELETE", URL + "/7?force=1#top", nonce="n-1", now=1_700_000_000)
    _, claims = parts(proof)
    jti = claims.pop("jti")
    assert claims == {"htm": "DELETE", "htu": URL + "/7", "iat": 1_700_000_000, "nonce": "n-1"}
    assert isinstance(jti, str)
    assert len(_b64.decode(jti)) >= 16  # at least 128 random bits


def test_every_proof_gets_a_fresh_jti(key: jwk.Key) -> None:
    jtis = {parts(dpop.create_proof(key, "GET", URL))[1]["jti"] for _ in range(50)}
    assert len(jtis) == 50


def test_a_given_jti_is_used(key: jwk.Key) -> None:
    _, claims = parts(dpop.create_proof(key, "GET", URL, jti="my-own-id"))
    assert claims["jti"] == "my-own-id"


def test_rsa_key_may_sign_with_pss(replay: dpop.MemoryReplayCache) -> None:
    key = KEYS["RS256"]._with(alg=None, kid=None)
    proof = dpop.create_proof(key, "GET", URL, algorithm="PS384")
    checked = dpop.verify_proof(proof, htm="GET", htu=URL, replay=replay)
    assert checked.header["alg"] == "PS384"


def test_secret_and_public_keys_cannot_make_proofs(key: jwk.Key) -> None:
    for wrong in (jwk.Key.generate("HS256"), key.public_key()):
        with pytest.raises(errors.InvalidKeyError):
            dpop.create_proof(wrong, "GET", URL)


def test_a_proof_for_a_token_request_has_no_ath(key: jwk.Key) -> None:
    proof = dpop.create_proof(key, "POST", "https://as.example.com/token")
    checked = dpop.verify_proof(proof, htm="POST", htu="https://as.example.com/token", replay=None)
    assert "ath" not in checked.claims
    # What the authorization server binds the new token to:
    assert {"cnf": {"jkt": checked.jkt}} == {"cnf": {"jkt": key.thumbprint()}}


def test_the_caller_gets_its_own_copy_of_the_header(key: jwk.Key) -> None:
    proof = dpop.create_proof(key, "GET", URL)
    first = dpop.verify_proof(proof, htm="GET", htu=URL, replay=None)
    first.header["jwk"]["x"] = "changed"
    first.header["alg"] = "changed"
    again = dpop.verify_proof(proof, htm="GET", htu=URL, replay=None)
    assert again.header["jwk"]["x"] == key.to_jwk()["x"]
    assert again.header["alg"] == "ES256"


def test_async_verification(key: jwk.Key, replay: dpop.MemoryReplayCache) -> None:
    proof = dpop.create_proof(key, "GET", URL, access_token=TOKEN)
    options = {"htm": "GET", "htu": URL, "access_token": TOKEN, "expected_jkt": key.thumbprint()}

    async def twice() -> None:
        await dpop.averify_proof(proof, replay=replay, **options)
        with pytest.raises(dpop.DPoPError) as caught:
            await dpop.averify_proof(proof, replay=replay, **options)
        assert caught.value.reason == "replay"

    asyncio.run(twice())


def test_bound_jkt_reads_cnf() -> None:
    assert dpop.bound_jkt({"sub": "42"}) is None
    assert dpop.bound_jkt({"cnf": {"jkt": "abc"}}) == "abc"
    for bad in ({"cnf": "abc"}, {"cnf": {"x5t#S256": "abc"}}, {"cnf": {"jkt": 7}}):
        with pytest.raises(errors.InvalidClaimError) as caught:
            dpop.bound_jkt(bad)
        assert caught.value.claim == "cnf"


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("alg", sorted(KEYS))
def test_joserfc_verifies_our_proofs_with_the_embedded_key(alg: str) -> None:
    proof = dpop.create_proof(KEYS[alg], "GET", URL, now=time.time())
    header, _ = parts(proof)
    peer_key = JWKRegistry.import_key(header["jwk"])
    registry = JWSRegistry(algorithms=[header["alg"]])
    registry.max_header_length = 4096  # joserfc's 512-byte default is too small for RSA keys
    result = peer_jws.deserialize_compact(proof, peer_key, registry=registry)
    assert json.loads(result.payload)["htu"] == URL


def test_jkt_is_the_thumbprint_even_when_the_jwk_names_a_kid(
    forge: Forge, replay: dpop.MemoryReplayCache
) -> None:
    key = KEYS["ES256"]
    proof = forge(header={"jwk": {**key.to_jwk(), "kid": "my-name"}})
    checked = dpop.verify_proof(proof, htm="GET", htu=URL, replay=replay)
    assert checked.jkt == key.thumbprint()
