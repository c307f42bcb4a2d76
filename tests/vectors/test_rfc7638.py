"""RFC 7638 §3.1: the JWK thumbprint of the RFC's RSA key."""

from __future__ import annotations

import pytest

from jotgate import jwk

from ._vectors import load

RFC = load("rfc7638.json")
THUMBPRINT = RFC["thumbprint_sha256"]


def test_thumbprint_of_the_rfc_key_is_the_rfc_value() -> None:
    assert jwk.Key.from_jwk(RFC["jwk"]).thumbprint() == THUMBPRINT


def test_thumbprint_defaults_to_sha256() -> None:
    key = jwk.Key.from_jwk(RFC["jwk"])
    assert key.thumbprint("sha256") == key.thumbprint()


@pytest.mark.parametrize("dropped", [(), ("alg",), ("kid",), ("alg", "kid")])
def test_thumbprint_ignores_the_optional_members(dropped: tuple[str, ...]) -> None:
    # §3.2: only the required members (e, kty, n for RSA) are hashed.
    members = {name: value for name, value in RFC["jwk"].items() if name not in dropped}
    assert jwk.Key.from_jwk(members).thumbprint() == THUMBPRINT


def test_explicit_kid_is_kept_rather_than_replaced_by_the_thumbprint() -> None:
    key = jwk.Key.from_jwk(RFC["jwk"])
    assert (key.kid, key.alg) == ("2011-04-29", "RS256")


def test_kid_of_a_key_without_one_is_its_thumbprint() -> None:
    members = {name: value for name, value in RFC["jwk"].items() if name != "kid"}
    assert jwk.Key.from_jwk(members).kid == THUMBPRINT


def test_thumbprint_is_the_same_for_the_json_text_of_the_key() -> None:
    # from_jwk also takes JSON text; whitespace and member order must not matter.
    text = '{ "kid": "2011-04-29", "alg": "RS256",\n "e": "AQAB", "n": "%s", "kty": "RSA" }'
    assert jwk.Key.from_jwk(text % RFC["jwk"]["n"]).thumbprint() == THUMBPRINT
