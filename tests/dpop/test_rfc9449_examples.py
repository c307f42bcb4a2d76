"""The worked examples of RFC 9449, checked against the published values."""

from __future__ import annotations

import pytest

from jotgate import dpop, jwk

# RFC 9449 §4.1, Figure 3: a proof for the token request, made at iat 1562262616.
RFC_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0"
    "VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10"
    "NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2f"
    "Q.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC_IAT = 1562262616
RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
# §6.1: the thumbprint of that key, as the access token's cnf.jkt.
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
# §7.1: the access token of the resource request and its ath.
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
TOKEN_URL = "https://server.example.com/token"


def verify_rfc_proof(**options: object) -> dpop.Proof:
    args: dict[str, object] = {"htm": "POST", "htu": TOKEN_URL, "now": RFC_IAT, "replay": None}
    args.update(options)
    return dpop.verify_proof(RFC_PROOF, **args)


def test_the_section_4_1_proof_verifies_at_its_iat() -> None:
    proof = verify_rfc_proof()
    assert proof.header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": RFC_JWK}
    assert proof.claims == {
        "jti": "-BwC3ESc6acc2lTc",
        "htm": "POST",
        "htu": TOKEN_URL,
        "iat": RFC_IAT,
    }
    assert proof.key.to_jwk()["x"] == RFC_JWK["x"]
    assert not proof.key.is_private


def test_the_proof_key_thumbprint_is_the_section_6_1_jkt() -> None:
    assert verify_rfc_proof().jkt == RFC_JKT
    assert verify_rfc_proof(expected_jkt=RFC_JKT).jkt == RFC_JKT
    assert jwk.Key.from_jwk(RFC_JWK).thumbprint() == RFC_JKT


def test_ath_of_the_section_7_1_access_token() -> None:
    assert dpop.access_token_hash(RFC_ACCESS_TOKEN) == RFC_ATH


def test_the_section_4_1_proof_carries_no_ath_so_it_cannot_go_with_a_token() -> None:
    with pytest.raises(dpop.DPoPError) as caught:
        verify_rfc_proof(access_token=RFC_ACCESS_TOKEN, expected_jkt=RFC_JKT)
    assert caught.value.reason == "ath"


def test_the_example_proof_expires_after_max_age_plus_leeway() -> None:
    verify_rfc_proof(now=RFC_IAT + 65)  # max_age 60 + leeway 5: still good
    with pytest.raises(dpop.DPoPError) as caught:
        verify_rfc_proof(now=RFC_IAT + 66)
    assert caught.value.reason == "iat"


def test_the_example_proof_is_only_for_its_request() -> None:
    with pytest.raises(dpop.DPoPError, match="another HTTP method"):
        verify_rfc_proof(htm="GET")
    with pytest.raises(dpop.DPoPError, match="another URI"):
        verify_rfc_proof(htu="https://server.example.com/userinfo")
    # Query, fragment, case of scheme and host, and the default port do not matter.
    verify_rfc_proof(htu="HTTPS://Server.Example.COM:443/token?grant=1#x")


def test_the_example_proof_is_good_once() -> None:
    cache = dpop.MemoryReplayCache(clock=lambda: RFC_IAT)
    verify_rfc_proof(replay=cache)
    with pytest.raises(dpop.DPoPError) as caught:
        verify_rfc_proof(replay=cache)
    assert caught.value.reason == "replay"
