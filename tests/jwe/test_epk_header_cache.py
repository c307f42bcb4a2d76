"""The ECDH-ES header shortcut: the static part is parsed once, the epk read from its match.

``load_header`` remembers, per sender, everything before an epk written the
way jotgate writes it (last member, sorted, compact) and builds later headers
from that and the matched epk. These tests pin that the result is always what
the strict parser makes of the whole text, and that nothing the strict parser
or the key manager refuses gets through a remembered prefix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from jotgate import _json, jwe, jwk
from jotgate._jwe_parse import _epk_statics, load_header
from jotgate.errors import DecryptionError

from .conftest import ENCRYPTIONS, b64u, unb64u
from .forge import concat_kdf, seal_gcm

ALG = "ECDH-ES"


def compact(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()


def epk_of(private: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = private.public_key().public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64u(numbers.x.to_bytes(32, "big")),
        "y": b64u(numbers.y.to_bytes(32, "big")),
    }


def token_with(raw_header: bytes, recipient: jwk.Key, ephemeral: Any = None) -> str:
    """An ECDH-ES/A128GCM token over exactly ``raw_header``, sealed with ``ephemeral``."""
    public = recipient.public_key()._public
    assert isinstance(public, ec.EllipticCurvePublicKey)
    ephemeral = ephemeral or ec.generate_private_key(ec.SECP256R1())
    z = ephemeral.exchange(ec.ECDH(), public)
    return seal_gcm(b64u(raw_header), concat_kdf(z, "A128GCM", 16), b"secret")


def decrypt(token: str, key: jwk.Key) -> jwe.Decrypted:
    return jwe.decrypt(token, key, algorithms=[ALG], encryptions=["A128GCM"])


@pytest.mark.parametrize(
    "static",
    [
        {"alg": ALG, "enc": "A128GCM"},
        {"alg": ALG, "enc": "A128GCM", "kid": "k1", "cty": "JWT"},
        {"enc": "A128GCM", "kid": 'ünï "quoted"', "alg": ALG},
        {"alg": ALG, "enc": "A128GCM", "x-extra": {"nested": [1, 2]}},
        {"alg": ALG, "enc": "A128GCM", "n": 1.5, "t": True, "z": None},
    ],
)
def test_same_header_as_the_strict_parser_first_and_later(
    agreement_keys: dict[str, jwk.Key], static: dict[str, Any]
) -> None:
    private = agreement_keys["P-256"]
    for _ in range(3):  # the first builds the remembered part, the others use it
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        raw = compact({**static, "epk": epk_of(ephemeral)})
        segment = b64u(raw)
        header = load_header(segment)
        assert header == _json.loads_object(raw)
        assert list(header) == [*static, "epk"]
        assert decrypt(token_with(raw, private, ephemeral), private).header == header


def test_only_flat_static_parts_are_remembered(agreement_keys: dict[str, jwk.Key]) -> None:
    _epk_statics.clear()
    raw = compact(
        {
            "alg": ALG,
            "enc": "A128GCM",
            "x": {"a": 1},
            "epk": epk_of(ec.generate_private_key(ec.SECP256R1())),
        }
    )
    load_header(b64u(raw))
    assert not _epk_statics
    raw = compact(
        {"alg": ALG, "enc": "A128GCM", "epk": epk_of(ec.generate_private_key(ec.SECP256R1()))}
    )
    load_header(b64u(raw))
    assert len(_epk_statics) == 1


def test_remembered_header_is_not_shared(agreement_keys: dict[str, jwk.Key]) -> None:
    private = agreement_keys["P-256"]
    token = jwe.encrypt(b"x", private.public_key(), "ECDH-ES+A256KW", "A256GCM")
    first = jwe.decrypt(token, private, algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"])
    first.header["kid"] = "changed"
    first.header["epk"]["crv"] = "changed"
    again = jwe.decrypt(token, private, algorithms=["ECDH-ES+A256KW"], encryptions=["A256GCM"])
    assert again.header["kid"] == private.kid
    assert again.header["epk"]["crv"] == "P-256"


def prime(private: jwk.Key, static: dict[str, Any]) -> None:
    """Decrypt one honest token so that ``static``'s prefix is remembered."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    raw = compact({**static, "epk": epk_of(ephemeral)})
    assert decrypt(token_with(raw, private, ephemeral), private).plaintext == b"secret"


@pytest.mark.parametrize(
    "tail",
    [
        # off the curve: y's last bit flipped
        lambda e: {**e, "y": b64u(bytes([*unb64u(e["y"])[:-1], unb64u(e["y"])[-1] ^ 1]))},
        lambda e: {**e, "y": e["y"][:-1]},  # a coordinate too short
        lambda e: {**e, "x": e["x"] + "AA"},  # too long
        lambda e: {**e, "x": e["x"][:-1] + "B"},  # not canonical base64url (or another point)
        lambda e: {**e, "crv": "P-384"},  # another curve
        lambda e: {**e, "kty": "OKP"},  # another key type
        lambda e: {k: v for k, v in e.items() if k != "y"},  # no y
    ],
)
def test_bad_epk_after_a_remembered_prefix_refused(
    agreement_keys: dict[str, jwk.Key], tail: Any
) -> None:
    private = agreement_keys["P-256"]
    static = {"alg": ALG, "enc": "A128GCM", "kid": "sender"}
    prime(private, static)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    raw = compact({**static, "epk": tail(epk_of(ephemeral))})
    with pytest.raises(DecryptionError):
        decrypt(token_with(raw, private, ephemeral), private)


@pytest.mark.parametrize(
    "text",
    [
        # a second epk before the last one: a duplicate member
        b'{"alg":"ECDH-ES","enc":"A128GCM","epk":{"kty":"EC"},"epk":EPK}',
        # the prefix is not a complete object before the epk
        b'{"alg":"ECDH-ES","enc":"A128GCM","q":{"a":1,"epk":EPK}}',
        b'{"alg":"ECDH-ES","enc":"A128GCM",,"epk":EPK}',
        b'{,"epk":EPK}',
        # the epk not at the top level
        b'{"alg":"ECDH-ES","enc":"A128GCM","q":{"epk":EPK}}',
        # crit, an unknown alg, a wrong-type kid: the usual header checks
        b'{"alg":"ECDH-ES","enc":"A128GCM","crit":["x"],"x":1,"epk":EPK}',
        b'{"alg":"ECDH-ES+X","enc":"A128GCM","epk":EPK}',
        b'{"alg":"ECDH-ES","enc":"A128GCM","kid":7,"epk":EPK}',
        b'{"alg":"ECDH-ES","enc":"A128GCM","p2s":"AAAA","epk":EPK}',
    ],
)
def test_malformed_headers_refused_with_or_without_a_remembered_prefix(
    agreement_keys: dict[str, jwk.Key], text: bytes
) -> None:
    private = agreement_keys["P-256"]
    prime(private, {"alg": ALG, "enc": "A128GCM"})
    for _ in range(2):
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        raw = text.replace(b"EPK", compact(epk_of(ephemeral)))
        with pytest.raises(DecryptionError):
            decrypt(token_with(raw, private, ephemeral), private)


@pytest.mark.parametrize("enc", ENCRYPTIONS)
@pytest.mark.parametrize("alg", ["ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"])
def test_one_key_path_and_key_set_path_agree(
    agreement_keys: dict[str, jwk.Key], alg: str, enc: str
) -> None:
    private = agreement_keys["P-384"]
    token = jwe.encrypt(b"both ways", private.public_key(), alg, enc)
    one = jwe.decrypt(token, private, algorithms=[alg], encryptions=[enc])
    both = jwe.decrypt(
        token, jwk.KeySet([agreement_keys["P-256"], private]), algorithms=[alg], encryptions=[enc]
    )
    assert one.plaintext == both.plaintext == b"both ways"
    assert one.header == both.header
    head, ek, iv, ct, tag = token.split(".")
    flipped = ct[:-2] + ("A" if ct[-2] != "A" else "B") + ct[-1]
    for key in (private, jwk.KeySet([private])):
        with pytest.raises(DecryptionError):
            jwe.decrypt(
                ".".join((head, ek, iv, flipped, tag)), key, algorithms=[alg], encryptions=[enc]
            )
