"""jotgate JWEs against joserfc (in-process) and jose@6 (Node), in both directions.

Each case is encrypted by one side and decrypted by the other; the plaintext
must survive and the decrypter must see the header the encrypter wrote.
The Node cases skip with a reason when Node or jose is missing, and fail
instead under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jotgate import errors, jwe, jwk

from .conftest import FAST_P2C, header_of
from .peers import (
    NodeJwePeer,
    joserfc_decrypt,
    joserfc_encrypt,
    start_node_peer,
)

PLAINTEXT = (
    b'{"iss":"https://auth.example.com","sub":"8f14e45f-ceea-467e-a0a6-3b1e5f0c7d9a",'
    b'"aud":"api","exp":1800000900,"iat":1800000000,"scope":"read write"}'
)

#: (alg, enc, key name): the representative set of the issue, plus a few more rows.
CASES = [
    ("dir", "A256GCM", "dir-32"),
    ("dir", "A128CBC-HS256", "dir-32"),
    ("A256KW", "A256GCM", "kw-32"),
    ("A128GCMKW", "A192CBC-HS384", "kw-16"),
    ("RSA-OAEP-256", "A256GCM", "rsa"),
    ("RSA-OAEP", "A128CBC-HS256", "rsa"),
    ("ECDH-ES+A256KW", "A256GCM", "P-256"),
    ("ECDH-ES+A256KW", "A256GCM", "X25519"),
    ("ECDH-ES", "A256CBC-HS512", "P-521"),
    ("ECDH-ES+A128KW", "A128GCM", "P-384"),
    ("PBES2-HS256+A128KW", "A128CBC-HS256", "password"),
    ("PBES2-HS512+A256KW", "A256GCM", "password"),
]
IDS = [f"{alg}-{enc}-{name}" for alg, enc, name in CASES]


@pytest.fixture(scope="module")
def keys(rsa_key, agreement_keys, password) -> dict[str, jwk.Key]:
    return {
        "dir-32": jwk.Key.from_secret(bytes(range(32)), alg="dir", kid="shared-dir"),
        "kw-32": jwk.Key.from_secret(bytes(range(100, 132)), kid="wrap-32"),
        "kw-16": jwk.Key.from_secret(bytes(range(50, 66)), alg="A128GCMKW"),
        "rsa": rsa_key,
        "password": password,
        **agreement_keys,
    }


@pytest.fixture(scope="module")
def node() -> Iterator[NodeJwePeer]:
    peer = start_node_peer()
    assert peer is not None
    try:
        assert peer.request(op="version")["version"].startswith("6.")
        yield peer
    finally:
        peer.close()


def _extras(alg: str) -> dict[str, object]:
    return {"p2c": FAST_P2C} if alg.startswith("PBES2") else {}


def _check(header: dict, alg: str, enc: str) -> None:
    assert (header["alg"], header["enc"]) == (alg, enc)


@pytest.mark.parametrize(("alg", "enc", "name"), CASES, ids=IDS)
def test_joserfc_decrypts_jotgate(keys, alg, enc, name) -> None:
    key = keys[name]
    token = jwe.encrypt(
        PLAINTEXT, key if key.is_symmetric else key.public_key(), alg, enc, _extras(alg)
    )
    header, plaintext = joserfc_decrypt(key, alg, enc, token)
    assert plaintext == PLAINTEXT
    assert header == header_of(token)


@pytest.mark.parametrize(("alg", "enc", "name"), CASES, ids=IDS)
def test_jotgate_decrypts_joserfc(keys, alg, enc, name) -> None:
    key = keys[name]
    token = joserfc_encrypt(key, alg, enc, PLAINTEXT, {"kid": "peer", **_extras(alg)})
    decrypted = jwe.decrypt(token, key, algorithms=[alg], encryptions=[enc])
    assert decrypted.plaintext == PLAINTEXT
    _check(decrypted.header, alg, enc)
    assert decrypted.header["kid"] == "peer"


@pytest.mark.parametrize(("alg", "enc", "name"), CASES, ids=IDS)
def test_node_jose_decrypts_jotgate(node, keys, alg, enc, name) -> None:
    key = keys[name]
    token = jwe.encrypt(
        PLAINTEXT, key if key.is_symmetric else key.public_key(), alg, enc, _extras(alg)
    )
    header, plaintext = node.decrypt(key, alg, enc, token)
    assert plaintext == PLAINTEXT
    assert header == header_of(token)


@pytest.mark.parametrize(("alg", "enc", "name"), CASES, ids=IDS)
def test_jotgate_decrypts_node_jose(node, keys, alg, enc, name) -> None:
    key = keys[name]
    token = node.encrypt(key, alg, enc, PLAINTEXT, {"cty": "JWT", **_extras(alg)})
    decrypted = jwe.decrypt(token, key, algorithms=[alg], encryptions=[enc])
    assert decrypted.plaintext == PLAINTEXT
    _check(decrypted.header, alg, enc)
    assert decrypted.header["cty"] == "JWT"


def test_ecdh_party_info_agrees_with_node(node, keys) -> None:
    key = keys["P-256"]
    extras = {"apu": "QWxpY2U", "apv": "Qm9i"}
    token = jwe.encrypt(PLAINTEXT, key.public_key(), "ECDH-ES", "A128GCM", extras)
    assert node.decrypt(key, "ECDH-ES", "A128GCM", token)[1] == PLAINTEXT
    back = node.encrypt(key, "ECDH-ES", "A128GCM", PLAINTEXT, extras)
    assert header_of(back)["apu"] == "QWxpY2U"
    assert (
        jwe.decrypt(back, key, algorithms=["ECDH-ES"], encryptions=["A128GCM"]).plaintext
        == PLAINTEXT
    )


def test_compressed_tokens_from_jotgate_inflate_in_joserfc(keys) -> None:
    key = keys["kw-32"]
    token = jwe.encrypt(PLAINTEXT * 20, key, "A256KW", "A256GCM", {"zip": "DEF"})
    assert joserfc_decrypt(key, "A256KW", "A256GCM", token, zip_allowed=True)[1] == PLAINTEXT * 20


@pytest.mark.filterwarnings("ignore:JWE algorithm .RSA1_5. is deprecated")
def test_a_peer_made_rsa1_5_token_is_refused(keys) -> None:
    """joserfc still makes RSA1_5 tokens when asked; jotgate never decrypts them."""
    key = keys["rsa"]
    token = joserfc_encrypt(key, "RSA1_5", "A128GCM", PLAINTEXT, {})
    with pytest.raises(errors.UnsupportedAlgorithmError):
        jwe.decrypt(token, key, algorithms=["RSA1_5"], encryptions=["A128GCM"])
    with pytest.raises(errors.DecryptionError):
        jwe.decrypt(token, key, algorithms=["RSA-OAEP"], encryptions=["A128GCM"])
