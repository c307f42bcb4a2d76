"""Known answers: RFC 7516 Appendix A, RFC 7518 Appendix C, and the RFC 7520 cookbook.

The tokens were made by other implementations; jotgate must decrypt them to
the published plaintexts, and refuse the ones whose constructs it does not
implement on purpose (RSA1_5, JSON serializations) or by default (zip).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jotgate import errors, jwe, jwk, jwt

from .conftest import b64u, unb64u

DATA = Path(__file__).parent / "data"
COOKBOOK = DATA / "jose-cookbook"
RFC = json.loads((DATA / "rfc7516_7518.json").read_text(encoding="utf-8"))


def cookbook(name: str) -> dict[str, Any]:
    """One cookbook example, by the start of its file name (e.g. ``jwe/5_2``)."""
    folder, prefix = name.split("/")
    (path,) = (
        (COOKBOOK / folder).glob(f"{prefix}.*.json")
        if folder == "jwe"
        else [COOKBOOK / folder / f"{prefix}.json"]
    )
    return json.loads(path.read_text(encoding="utf-8"))


# -- RFC 7516 Appendix A ------------------------------------------------------


def test_rfc7516_a1_rsa_oaep_with_a256gcm() -> None:
    vector = RFC["A.1"]
    key = jwk.Key.from_jwk(vector["key"])
    decrypted = jwe.decrypt(
        vector["compact"], key, algorithms=["RSA-OAEP"], encryptions=["A256GCM"]
    )
    assert decrypted.plaintext == vector["plaintext"].encode()
    assert decrypted.header == {"alg": "RSA-OAEP", "enc": "A256GCM"}


def test_rfc7516_a2_rsa1_5_is_refused(rsa_key) -> None:
    token = RFC["A.2"]["compact"]
    with pytest.raises(errors.UnsupportedAlgorithmError, match="Bleichenbacher"):
        jwe.decrypt(token, rsa_key, algorithms=["RSA1_5"], encryptions=["A128CBC-HS256"])
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(token, rsa_key, algorithms=["RSA-OAEP"], encryptions=["A128CBC-HS256"])


def test_rfc7516_a3_a128kw_with_a128cbc_hs256() -> None:
    vector = RFC["A.3"]
    # A 16-byte secret is a valid A128KW key, but only when it says so.
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.from_jwk(vector["key"])
    key = jwk.Key.from_jwk({**vector["key"], "alg": "A128KW"})
    decrypted = jwe.decrypt(
        vector["compact"], key, algorithms=["A128KW"], encryptions=["A128CBC-HS256"]
    )
    assert decrypted.plaintext == vector["plaintext"].encode()


# -- RFC 7518 Appendix C -------------------------------------------------------


def test_rfc7518_appendix_c_concat_kdf_derives_the_published_key() -> None:
    """A token built by hand under the published derived key decrypts with Bob's key.

    The ephemeral key is Alice's from the RFC, so jotgate's Concat KDF must
    reproduce exactly ``VqqN6vgjbSBcIijNcacQGg`` for the tag to verify.
    """
    vector = RFC["rfc7518_C"]
    public_epk = {name: vector["alice_ephemeral"][name] for name in ("kty", "crv", "x", "y")}
    header = {**vector["header"], "epk": public_epk}
    segment = b64u(json.dumps(header).encode())
    iv = bytes(range(12))
    sealed = AESGCM(unb64u(vector["derived_key"])).encrypt(iv, b"Alice to Bob", segment.encode())
    token = ".".join((segment, "", b64u(iv), b64u(sealed[:-16]), b64u(sealed[-16:])))

    bob = jwk.Key.from_jwk(vector["bob"])
    decrypted = jwe.decrypt(token, bob, algorithms=["ECDH-ES"], encryptions=["A128GCM"])
    assert decrypted.plaintext == b"Alice to Bob"


# -- RFC 7520 (JOSE cookbook) ----------------------------------------------------

COMPACT_EXAMPLES = [
    "jwe/5_2",  # RSA-OAEP + A256GCM
    "jwe/5_3",  # PBES2-HS512+A256KW + A128CBC-HS256
    "jwe/5_4",  # ECDH-ES+A128KW (P-384) + A128GCM
    "jwe/5_5",  # ECDH-ES (P-256) + A128CBC-HS256
    "jwe/5_6",  # dir + A128GCM
    "jwe/5_7",  # A256GCMKW + A128CBC-HS256
    "jwe/5_8",  # A128KW + A128GCM
    "curve25519/ecdh-es",  # ECDH-ES (X25519) + A128GCM
]


def _cookbook_key(example: dict[str, Any]) -> jwk.Key:
    given = example["input"]
    if "pwd" in given:
        return jwk.Key.from_secret(given["pwd"].encode("utf-8"))
    return jwk.Key.from_jwk(given["key"])


@pytest.mark.parametrize("name", COMPACT_EXAMPLES)
def test_cookbook_compact_examples_decrypt(name) -> None:
    example = cookbook(name)
    given = example["input"]
    decrypted = jwe.decrypt(
        example["output"]["compact"],
        _cookbook_key(example),
        algorithms=[given["alg"]],
        encryptions=[given["enc"]],
    )
    assert decrypted.plaintext == given["plaintext"].encode("utf-8")
    assert decrypted.header == example["encrypting_content"]["protected"]


def test_cookbook_5_1_rsa1_5_is_refused() -> None:
    example = cookbook("jwe/5_1")
    key = _cookbook_key(example)
    token = example["output"]["compact"]
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwe.decrypt(token, key, algorithms=["RSA1_5"], encryptions=["A128CBC-HS256"])
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(token, key, algorithms=["RSA-OAEP"], encryptions=["A128CBC-HS256"])


def test_cookbook_5_9_zip_is_refused_by_default_and_inflated_when_allowed() -> None:
    example = cookbook("jwe/5_9")
    key = _cookbook_key(example)
    token = example["output"]["compact"]
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(token, key, algorithms=["A128KW"], encryptions=["A128GCM"])
    decrypted = jwe.decrypt(
        token, key, algorithms=["A128KW"], encryptions=["A128GCM"], allow_zip=True
    )
    assert decrypted.plaintext == example["input"]["plaintext"].encode("utf-8")
    assert decrypted.header["zip"] == "DEF"


JSON_ONLY = [
    (name, form)
    for name in ("jwe/5_10", "jwe/5_11", "jwe/5_12", "jwe/5_13")
    for form in ("json", "json_flat")
    if form in cookbook(name)["output"]  # 5.13 (several recipients) has no flattened form
]


@pytest.mark.parametrize(("name", "form"), JSON_ONLY)
def test_cookbook_json_serializations_are_refused(name, form) -> None:
    """AAD, unprotected headers and several recipients exist only in the JSON forms."""
    example = cookbook(name)
    assert "compact" not in example["output"]
    keys = example["input"]["key"]
    key = jwk.Key.from_jwk(keys[-1] if isinstance(keys, list) else keys)
    document = json.dumps(example["output"][form])
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(document, key, algorithms=["A128KW", "A256GCMKW"], encryptions=["A128GCM"])


def test_cookbook_6_nested_jwt_decrypts_then_verifies() -> None:
    example = json.loads((COOKBOOK / "6.nesting_signatures_and_encryption.json").read_text())
    signing_key = jwk.Key.from_jwk(example["sign"]["input"]["key"]).public_key()
    encryption_key = jwk.Key.from_jwk(example["encrypt"]["input"]["key"])
    token = example["encrypt"]["output"]["compact"]

    claims = jwt.decode(
        token,
        signing_key,
        algorithms=["PS256"],
        issuer="hobbiton.example",
        now=1300819000,
        decrypt_with=encryption_key,
        decrypt_algorithms=["RSA-OAEP"],
        encryptions=["A128GCM"],
    )
    assert claims == {
        "iss": "hobbiton.example",
        "exp": 1300819380,
        "http://example.com/is_root": True,
    }
    inner = jwe.decrypt_nested(token, encryption_key, ["RSA-OAEP"], ["A128GCM"])
    assert inner.decode() == example["encrypt"]["input"]["plaintext"]
