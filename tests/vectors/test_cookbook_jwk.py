"""RFC 7520 §3 (JOSE cookbook): the six example JWKs imported and exported unchanged."""

from __future__ import annotations

import pytest

from jotgate import errors, jwk, jws

from ._vectors import COOKBOOK_PAYLOAD, b64u, cookbook, hs256_token, unb64u

NAMES = [
    "3_1.ec_public_key",
    "3_2.ec_private_key",
    "3_3.rsa_public_key",
    "3_4.rsa_private_key",
    "3_5.symmetric_key_mac_computation",
    "3_6.symmetric_key_encryption",
]
JWKS = {name: cookbook(f"jwk/{name}.json") for name in NAMES}
#: RFC 7518 §6: the members that hold private (or secret) key material.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
#: The private JWK each public one is the public half of.
PUBLIC_HALF_OF = {
    "3_1.ec_public_key": "3_2.ec_private_key",
    "3_3.rsa_public_key": "3_4.rsa_private_key",
}


def _public_members(members: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in members.items() if name not in PRIVATE_MEMBERS}


@pytest.mark.parametrize("name", NAMES)
def test_cookbook_jwk_imports_with_its_metadata(name: str) -> None:
    members = JWKS[name]
    key = jwk.Key.from_jwk(members)
    assert key.kty == members["kty"]
    assert key.crv == members.get("crv")
    assert key.kid == members["kid"]
    assert key.use == members["use"]
    assert key.alg == members.get("alg")
    assert key.is_symmetric == (members["kty"] == "oct")
    assert key.is_private == bool(PRIVATE_MEMBERS & members.keys())


@pytest.mark.parametrize("name", NAMES)
def test_cookbook_jwk_exports_exactly_the_members_it_was_imported_with(name: str) -> None:
    members = JWKS[name]
    key = jwk.Key.from_jwk(members)
    assert key.to_jwk(private=key.is_private) == members


@pytest.mark.parametrize("name", ["3_2.ec_private_key", "3_4.rsa_private_key"])
def test_cookbook_private_jwk_exports_only_public_members_by_default(name: str) -> None:
    key = jwk.Key.from_jwk(JWKS[name])
    assert key.to_jwk() == _public_members(JWKS[name])
    assert key.public_key().to_jwk() == _public_members(JWKS[name])


@pytest.mark.parametrize(("public", "private"), PUBLIC_HALF_OF.items())
def test_public_half_of_the_cookbook_private_key_is_the_cookbook_public_key(
    public: str, private: str
) -> None:
    from_private = jwk.Key.from_jwk(JWKS[private]).public_key()
    from_public = jwk.Key.from_jwk(JWKS[public])
    assert from_private.to_jwk() == from_public.to_jwk() == JWKS[public]
    assert from_private.thumbprint() == from_public.thumbprint()
    assert not from_private.is_private


@pytest.mark.parametrize(
    "name", ["3_5.symmetric_key_mac_computation", "3_6.symmetric_key_encryption"]
)
def test_secret_key_has_no_public_jwk(name: str) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(JWKS[name]).to_jwk()


def test_cookbook_rsa_and_ec_keys_share_a_kid_so_one_keyset_refuses_them() -> None:
    # Both are "bilbo.baggins@hobbiton.example": a kid must pick one key.
    rsa_key = jwk.Key.from_jwk(JWKS["3_3.rsa_public_key"])
    ec_key = jwk.Key.from_jwk(JWKS["3_1.ec_public_key"])
    with pytest.raises(errors.JoseError):
        jwk.KeySet([rsa_key, ec_key])


def test_cookbook_keyset_round_trips_through_jwks() -> None:
    keys = jwk.KeySet.from_jwks({"keys": [JWKS["3_3.rsa_public_key"]]})
    assert keys.to_jwks() == {"keys": [JWKS["3_3.rsa_public_key"]]}
    assert keys.get("bilbo.baggins@hobbiton.example") is not None


# -- 3.6: a symmetric key whose use is "enc" --------------------------------

ENC = JWKS["3_6.symmetric_key_encryption"]
ENC_SECRET = unb64u(ENC["k"])


def test_encryption_key_imports_as_an_encryption_key() -> None:
    key = jwk.Key.from_jwk(ENC)
    assert (key.kty, key.use, key.alg, key.kid) == ("oct", "enc", "A256GCM", ENC["kid"])
    assert len(ENC_SECRET) == 32


@pytest.mark.parametrize("algorithm", [None, "HS256"])
def test_encryption_key_never_signs(algorithm: str | None) -> None:
    with pytest.raises(errors.JoseError):
        jws.sign(COOKBOOK_PAYLOAD, jwk.Key.from_jwk(ENC), algorithm=algorithm)


def test_encryption_key_never_verifies_a_token_made_with_its_own_secret() -> None:
    token = hs256_token(ENC_SECRET, b'{"alg":"HS256"}', b64u(COOKBOOK_PAYLOAD))
    # Control: the same members minus use/alg form an ordinary HMAC key that
    # accepts the token, so the refusal below comes from those two members.
    plain = {name: value for name, value in ENC.items() if name not in ("use", "alg")}
    assert jws.verify(token, jwk.Key.from_jwk(plain), algorithms=["HS256"]).payload == (
        COOKBOOK_PAYLOAD
    )
    with pytest.raises(errors.JoseError):
        jws.verify(token, jwk.Key.from_jwk(ENC), algorithms=["HS256"])


def test_encryption_key_in_a_keyset_never_verifies_a_token_naming_its_kid() -> None:
    header = b'{"alg":"HS256","kid":"' + ENC["kid"].encode() + b'"}'
    token = hs256_token(ENC_SECRET, header, b64u(COOKBOOK_PAYLOAD))
    with pytest.raises(errors.JoseError):
        jws.verify(token, jwk.KeySet([jwk.Key.from_jwk(ENC)]), algorithms=["HS256"])
