"""Every way a proof can be wrong or stolen, refused with the right error.

Each proof here is built by hand (``forge``) so exactly one thing differs
from an honest proof for ``GET URL`` with ``TOKEN``; ``check`` verifies it
as a resource server would.
"""

from __future__ import annotations

import time

import pytest

from jotgate import _b64, _json, dpop, errors, jwk

from .conftest import KEYS, TOKEN, URL, Forge, check, public_members


def refused(proof: object, reason: str, **options: object) -> dpop.DPoPError:
    with pytest.raises(dpop.DPoPError) as caught:
        check(proof, **options)
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.code == "invalid_dpop_proof"
    return caught.value


def test_an_honest_proof_passes(forge: Forge) -> None:
    assert check(forge()).jkt == KEYS["ES256"].thumbprint()


# -- replay ---------------------------------------------------------------


def test_the_same_proof_twice_is_a_replay(forge: Forge, replay: dpop.MemoryReplayCache) -> None:
    proof = forge()
    check(proof, replay=replay)
    refused(proof, "replay", replay=replay)


def test_a_new_proof_reusing_a_jti_is_a_replay(
    forge: Forge, replay: dpop.MemoryReplayCache
) -> None:
    check(forge(jti="same"), replay=replay)
    refused(forge(jti="same", iat=int(time.time()) - 1), "replay", replay=replay)


def test_the_jti_is_remembered_per_key(
    forge: Forge, other_key: jwk.Key, replay: dpop.MemoryReplayCache
) -> None:
    # Another client cannot burn this client's jti values.
    check(forge(key=other_key, jti="shared"), replay=replay, expected_jkt=other_key.thumbprint())
    check(forge(jti="shared"), replay=replay)


def test_a_refused_proof_does_not_burn_its_jti(
    forge: Forge, replay: dpop.MemoryReplayCache
) -> None:
    proof = forge()
    refused(proof, "htm", replay=replay, htm="POST")
    check(proof, replay=replay)


# -- the request ----------------------------------------------------------


@pytest.mark.parametrize(
    "htu",
    [
        "https://api.example.com/notes/7",
        "https://api.example.com/Notes",
        "https://api.example.com/",
        "https://evil.example.com/notes",
        "http://api.example.com/notes",
        "https://api.example.com:8443/notes",
        "https://api.example.com/notes/",
    ],
)
def test_a_proof_for_another_uri_is_refused(forge: Forge, htu: str) -> None:
    refused(forge(htu=htu), "htu")


@pytest.mark.parametrize(
    "request_uri",
    [
        URL + "?page=2",
        URL + "#top",
        "HTTPS://API.EXAMPLE.COM/notes",
        "https://api.example.com:443/notes",
        "https://api.example.com/./notes",
        "https://api.example.com/x/../notes",
        "https://api.example.com/%6Eotes",
    ],
)
def test_spellings_of_the_same_uri_match(forge: Forge, request_uri: str) -> None:
    check(forge(), htu=request_uri)
    check(forge(htu=request_uri), htu=URL)


def test_a_proof_for_another_method_is_refused(forge: Forge) -> None:
    refused(forge(htm="POST"), "htm")
    refused(forge(htm="get"), "htm")  # methods are case-sensitive (RFC 9110 §9.1)


def test_a_garbage_htu_claim_is_refused(forge: Forge) -> None:
    for htu in ("/notes", "ftp://api.example.com/notes", "https://user@api.example.com/notes"):
        refused(forge(htu=htu), "htu")


# -- the key --------------------------------------------------------------


def test_a_proof_signed_by_another_key_than_its_jwk(forge: Forge, other_key: jwk.Key) -> None:
    refused(forge(signer=other_key), "signature")


def test_a_proof_with_a_private_jwk_is_refused(forge: Forge) -> None:
    key = KEYS["ES256"]
    refused(forge(header={"jwk": key.to_jwk(private=True)}), "jwk")
    rsa = KEYS["RS256"]
    refused(forge(key=rsa, alg="RS256", header={"jwk": rsa.to_jwk(private=True)}), "jwk")


def test_a_token_bound_to_another_key(forge: Forge, other_key: jwk.Key) -> None:
    # A thief with the access token signs a flawless proof with their own key.
    stolen = forge(key=other_key)
    refused(stolen, "jkt")
    refused(stolen, "jkt", expected_jkt=other_key.thumbprint()[1:])


def test_an_access_token_needs_an_expected_jkt(forge: Forge) -> None:
    with pytest.raises(TypeError, match="expected_jkt"):
        check(forge(), expected_jkt=None)


@pytest.mark.parametrize(
    "jwk_member",
    [
        {"kty": "oct", "k": _b64.encode_str(b"s" * 32)},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        "not an object",
        None,
    ],
)
def test_a_missing_or_unusable_jwk_is_refused(forge: Forge, jwk_member: object) -> None:
    refused(forge(header={"jwk": jwk_member}), "jwk")


def test_a_jwk_that_does_not_fit_the_alg_is_refused(forge: Forge) -> None:
    p384 = jwk.Key.generate("ES384")
    refused(forge(key=p384, signer=KEYS["ES256"], header={"jwk": public_members(p384)}), "jwk")
    refused(forge(header={"jwk": {**public_members(KEYS["ES256"]), "use": "enc"}}), "jwk")


def test_keys_named_elsewhere_are_never_fetched(forge: Forge) -> None:
    refused(forge(header={"jku": "https://evil.example.com/jwks"}), "jwk")
    refused(forge(header={"x5c": ["MIIB"]}), "jwk")


# -- the algorithm and type -----------------------------------------------


def test_an_hs256_proof_is_refused(forge: Forge) -> None:
    secret = jwk.Key.from_secret(b"k" * 32)
    oct_jwk = {"kty": "oct", "k": _b64.encode_str(b"k" * 32)}
    refused(forge(signer=secret, alg="HS256", header={"jwk": oct_jwk}), "alg")
    # Key confusion: HMAC under the public key's bytes, with an honest EC jwk.
    refused(forge(signer=secret, alg="HS256", header={"jwk": public_members(KEYS["ES256"])}), "alg")


def test_alg_none_is_refused(forge: Forge) -> None:
    head, body, _ = forge().split(".")
    header = _json.loads_object(_b64.decode(head))
    for name in ("none", "None", "NONE"):
        unsigned = _b64.encode_str(_json.dumps({**header, "alg": name}))
        refused(f"{unsigned}.{body}.", "alg")


def test_an_alg_outside_the_allowed_list_is_refused(forge: Forge) -> None:
    refused(forge(), "alg", algorithms=["EdDSA"])


def test_allowing_a_symmetric_alg_is_a_programming_error(forge: Forge) -> None:
    for algorithms in (["ES256", "HS256"], "ES256", [], ["nope"]):
        with pytest.raises(errors.UnsupportedAlgorithmError):
            check(forge(), algorithms=algorithms)


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "dpop", "", None, 7])
def test_a_wrong_typ_is_refused(forge: Forge, typ: object) -> None:
    refused(forge(header={"typ": typ}), "typ")


def test_typ_follows_media_type_rules(forge: Forge) -> None:
    check(forge(header={"typ": "application/dpop+jwt"}))
    check(forge(header={"typ": "DPoP+JWT"}))


# -- time -----------------------------------------------------------------


def test_iat_window(forge: Forge) -> None:
    now = 1_800_000_000
    check(forge(iat=now - 65), now=now)  # max_age 60 + leeway 5
    check(forge(iat=now + 5), now=now)
    refused(forge(iat=now - 66), "iat", now=now)
    refused(forge(iat=now + 6), "iat", now=now)
    refused(forge(iat=now - 11), "iat", now=now, max_age=5, leeway=5)


@pytest.mark.parametrize("iat", ["1800000000", True, None, [1]])
def test_iat_must_be_a_number(forge: Forge, iat: object) -> None:
    refused(forge(iat=iat), "claims")


# -- the access token -----------------------------------------------------


def test_ath_for_another_token_is_refused(forge: Forge) -> None:
    refused(forge(ath=dpop.access_token_hash(TOKEN + "x")), "ath")
    refused(forge(ath=None), "ath")
    refused(forge(ath=7), "ath")


def test_ath_is_not_needed_without_a_token(forge: Forge) -> None:
    check(forge(ath=None), access_token=None, expected_jkt=None)


# -- nonces ---------------------------------------------------------------


def test_a_missing_nonce_asks_for_one(forge: Forge) -> None:
    with pytest.raises(dpop.UseDPoPNonceError) as caught:
        check(forge(), nonce="n-2")
    assert caught.value.code == "use_dpop_nonce"
    assert isinstance(caught.value, dpop.DPoPError)


def test_a_wrong_nonce_asks_for_a_new_one(forge: Forge) -> None:
    for stale in ("n-1", "", "n-2x", 2):
        with pytest.raises(dpop.UseDPoPNonceError):
            check(forge(nonce=stale), nonce="n-2")
    check(forge(nonce="n-2"), nonce="n-2")


def test_a_bad_proof_is_not_answered_with_a_nonce(forge: Forge, other_key: jwk.Key) -> None:
    # A nonce request would tell the client to retry; a forged proof gets no such hint.
    refused(forge(signer=other_key), "signature", nonce="n-2")


# -- shape and size -------------------------------------------------------


def test_exactly_one_proof(forge: Forge) -> None:
    proof = forge()
    check([proof])
    refused([proof, forge()], "multiple")
    refused(f"{proof}, {forge()}", "multiple")
    refused([], "missing")
    refused(None, "missing")
    refused("", "missing")


def test_an_oversized_proof_is_refused_before_decoding(forge: Forge) -> None:
    refused(forge(pad="x" * dpop.MAX_PROOF_LENGTH), "size")
    refused("a" * (dpop.MAX_PROOF_LENGTH + 1), "size")
    refused(forge(header={"pad": "x" * 4000}), "size")


def test_a_long_jti_is_refused(forge: Forge) -> None:
    refused(forge(jti="j" * 257), "claims")
    refused(forge(jti=""), "claims")
    refused(forge(jti=7), "claims")


@pytest.mark.parametrize("name", ["jti", "htm", "htu", "iat"])
def test_a_required_claim_missing(forge: Forge, name: str) -> None:
    refused(forge(**{name: None}), "claims")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p + ".x",
        lambda p: p.rsplit(".", 1)[0],
        lambda p: "." + p,
        lambda p: p.replace(".", "=.", 1),
        lambda p: "bm90IGpzb24." + p.split(".", 1)[1],
        lambda p: "W10." + p.split(".", 1)[1],  # a JSON array, not an object
        lambda p: p.split(".")[0] + ".bm90IGpzb24." + p.split(".")[2],
        lambda p: p[:-2] + "é",
        lambda p: "a.b.c.d.e",
    ],
)
def test_malformed_proofs_are_refused(forge: Forge, mangle: object) -> None:
    proof = mangle(forge())  # type: ignore[operator]
    with pytest.raises(dpop.DPoPError) as caught:
        check(proof)
    assert caught.value.reason in ("malformed", "signature")


def test_a_duplicate_header_member_is_refused(forge: Forge) -> None:
    head, body, sig = forge().split(".")
    text = _b64.decode(head).decode()
    doubled = _b64.encode_str(text.replace('"typ"', '"typ":"JWT","typ"', 1).encode())
    refused(f"{doubled}.{body}.{sig}", "malformed")
