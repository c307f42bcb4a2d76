"""RFC 8037 Appendix A: the Ed25519 key, its thumbprint, signature and verification."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jotgate import errors, jwk, jws

from ._signing import signature_over
from ._vectors import load, split, tamper_payload, unb64u

RFC = load("rfc8037.json")
PAYLOAD = RFC["payload"].encode()
TOKEN = RFC["compact"]
THUMBPRINT = RFC["thumbprint_sha256"]
#: RFC 8037 §2: the members that make up an OKP key, private member last.
KEY_MEMBERS = ("kty", "crv", "x", "d")


@pytest.fixture
def private() -> jwk.Key:
    return jwk.Key.from_jwk(RFC["private_jwk"])


@pytest.fixture
def public() -> jwk.Key:
    return jwk.Key.from_jwk(RFC["public_jwk"])


def _key_members(exported: dict[str, object]) -> dict[str, object]:
    return {name: exported[name] for name in KEY_MEMBERS if name in exported}


# -- A.1, A.2: the key ---------------------------------------------------------


def test_a1_private_key_imports_as_an_ed25519_okp_key(private: jwk.Key) -> None:
    assert (private.kty, private.crv, private.is_private) == ("OKP", "Ed25519", True)
    assert not private.is_symmetric


def test_a1_private_key_exports_its_members_unchanged(private: jwk.Key) -> None:
    assert _key_members(private.to_jwk(private=True)) == RFC["private_jwk"]


def test_a2_public_key_is_the_public_half_of_the_a1_key(private: jwk.Key) -> None:
    exported = private.public_key().to_jwk()
    assert _key_members(exported) == RFC["public_jwk"]
    assert "d" not in exported
    assert _key_members(private.to_jwk()) == RFC["public_jwk"]


# -- A.3: the thumbprint ---------------------------------------------------------


def test_a3_thumbprint_of_the_public_key_is_the_rfc_value(public: jwk.Key) -> None:
    assert public.thumbprint() == THUMBPRINT


def test_a3_thumbprint_of_the_private_key_is_that_of_its_public_half(private: jwk.Key) -> None:
    # §A.3: the private member d is not part of the thumbprint.
    assert private.thumbprint() == THUMBPRINT


def test_a3_thumbprint_is_the_kid_of_the_key_that_has_none(
    private: jwk.Key, public: jwk.Key
) -> None:
    assert private.kid == public.kid == THUMBPRINT


# -- A.4: signing ----------------------------------------------------------------


def test_a4_signature_over_the_rfc_signing_input_is_the_rfc_signature(private: jwk.Key) -> None:
    signing_input, signature = TOKEN.rsplit(".", 1)
    assert signature_over(private, "EdDSA", signing_input.encode()) == signature


def test_a4_jws_sign_is_the_rfc_token_but_for_the_kid_it_adds(private: jwk.Key) -> None:
    # jws.sign puts the key's kid (here its thumbprint) into the header, so
    # its token cannot be the RFC's {"alg":"EdDSA"} one.
    token = jws.sign(PAYLOAD, private, algorithm="EdDSA")
    header, payload, signature = split(token)
    assert header == b'{"alg":"EdDSA","kid":"' + THUMBPRINT.encode() + b'"}'
    assert payload == PAYLOAD
    # Ed25519 is deterministic: the signature is the one the RFC's private key
    # (used through cryptography directly) puts on this signing input.
    rfc_private = Ed25519PrivateKey.from_private_bytes(unb64u(RFC["private_jwk"]["d"]))
    assert signature == rfc_private.sign(token.rsplit(".", 1)[0].encode())


def test_a4_eddsa_is_the_default_algorithm_of_an_ed25519_key(private: jwk.Key) -> None:
    assert jws.sign(PAYLOAD, private) == jws.sign(PAYLOAD, private, algorithm="EdDSA")


# -- A.5: verification -----------------------------------------------------------


@pytest.mark.parametrize("which", ["public", "private"])
def test_a5_rfc_token_verifies(which: str, request: pytest.FixtureRequest) -> None:
    key = request.getfixturevalue(which)
    verified = jws.verify(TOKEN, key, algorithms=["EdDSA"])
    assert verified.payload == PAYLOAD
    assert verified.header == {"alg": "EdDSA"}


def test_a5_rfc_token_verifies_through_a_keyset_without_kid(public: jwk.Key) -> None:
    # The token has no kid: every key that fits EdDSA is tried.
    verified = jws.verify(TOKEN, jwk.KeySet([public]), algorithms=["EdDSA"])
    assert verified.payload == PAYLOAD
    assert verified.key.thumbprint() == THUMBPRINT


def test_a5_rfc_token_with_a_flipped_payload_bit_is_refused(public: jwk.Key) -> None:
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(tamper_payload(TOKEN), public, algorithms=["EdDSA"])


def test_a5_rfc_token_is_refused_when_only_the_fully_specified_name_is_allowed(
    public: jwk.Key,
) -> None:
    # The header says "EdDSA"; allowing "Ed25519" (RFC 9864) does not allow it.
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jws.verify(TOKEN, public, algorithms=["Ed25519"])


def test_jws_sign_output_verifies_with_the_public_key(private: jwk.Key, public: jwk.Key) -> None:
    token = jws.sign(PAYLOAD, private, algorithm="EdDSA")
    assert jws.verify(token, public, algorithms=["EdDSA"]).payload == PAYLOAD
