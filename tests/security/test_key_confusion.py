"""HMAC/public-key confusion (CVE-2016-10555, CVE-2017-11424, CVE-2022-29217).

The attacker knows the victim's *public* key, signs ``alg: HS256`` with its
bytes as the HMAC secret, and hopes the verifier feeds those same bytes to
HMAC. jotgate binds every key to one algorithm family, refuses key material
as a secret, and checks that the token's alg fits the key before anything.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from jotgate import errors, jwk, jws, jwt

from .conftest import Pair
from .forge import b64, forge

Enc = serialization.Encoding
Pub = serialization.PublicFormat
Priv = serialization.PrivateFormat
CLAIMS = {"sub": "admin", "role": "root", "exp": 4_000_000_000}


def _certificate(private: Any) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "victim.example")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(private, algorithm)
    )


def _encodings(private: Any, public_jwk: dict[str, Any]) -> dict[str, bytes]:
    """Every spelling of the victim's key that an attacker could use as a secret."""
    public = private.public_key()
    out = {
        "spki-pem": public.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo),
        "spki-der": public.public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo),
        "openssh": public.public_bytes(Enc.OpenSSH, Pub.OpenSSH),
        "jwk-json": json.dumps(public_jwk).encode(),
        "jwk-json-compact": json.dumps(public_jwk, separators=(",", ":")).encode(),
        "pkcs8-pem": private.private_bytes(Enc.PEM, Priv.PKCS8, serialization.NoEncryption()),
        "pkcs8-der": private.private_bytes(Enc.DER, Priv.PKCS8, serialization.NoEncryption()),
        "cert-pem": _certificate(private).public_bytes(Enc.PEM),
        "cert-der": _certificate(private).public_bytes(Enc.DER),
    }
    if isinstance(private, rsa.RSAPrivateKey):
        out["pkcs1-pem"] = public.public_bytes(Enc.PEM, Pub.PKCS1)
        out["pkcs1-der"] = public.public_bytes(Enc.DER, Pub.PKCS1)
        out["pkcs1-private-pem"] = private.private_bytes(
            Enc.PEM, Priv.TraditionalOpenSSL, serialization.NoEncryption()
        )
    if isinstance(private, ec.EllipticCurvePrivateKey):
        out["sec1-private-pem"] = private.private_bytes(
            Enc.PEM, Priv.TraditionalOpenSSL, serialization.NoEncryption()
        )
    if isinstance(private, ed25519.Ed25519PrivateKey):
        out["openssh-private"] = private.private_bytes(
            Enc.PEM, Priv.OpenSSH, serialization.NoEncryption()
        )
    # Sloppy copies: stray whitespace, stripped newline, CRLF line endings.
    pem = out["spki-pem"]
    out["pem-leading-space"] = b"  \n" + pem
    out["pem-stripped"] = pem.strip()
    out["pem-crlf"] = pem.replace(b"\n", b"\r\n")
    out["openssh-with-comment"] = out["openssh"] + b" victim@host\n"
    return out


VICTIMS = ["RS256", "ES256", "EdDSA"]


@pytest.fixture(scope="module")
def material(pairs: dict[str, Pair]) -> dict[str, dict[str, bytes]]:
    return {alg: _encodings(pairs[alg].raw, pairs[alg].public.to_jwk()) for alg in VICTIMS}


def _cases(material: dict[str, dict[str, bytes]]) -> list[tuple[str, str, bytes]]:
    return [(alg, name, data) for alg, enc in material.items() for name, data in enc.items()]


@pytest.mark.parametrize("hs", ["HS256", "HS384", "HS512"])
def test_from_secret_refuses_every_spelling_of_a_public_or_private_key(
    hs: str, material: dict[str, dict[str, bytes]]
) -> None:
    accepted = []
    for victim, name, data in _cases(material):
        try:
            jwk.Key.from_secret(data, alg=hs)
        except errors.InvalidKeyError:
            continue
        accepted.append(f"{victim}/{name}")
    assert accepted == []


def test_oct_jwk_whose_k_is_key_material_is_refused(
    material: dict[str, dict[str, bytes]],
) -> None:
    accepted = []
    for victim, name, data in _cases(material):
        try:
            jwk.Key.from_jwk({"kty": "oct", "k": b64(data), "alg": "HS256"})
        except errors.InvalidKeyError:
            continue
        accepted.append(f"{victim}/{name}")
    assert accepted == []


@pytest.mark.parametrize("victim", VICTIMS)
def test_hs256_token_keyed_with_the_public_key_bytes_never_verifies(
    victim: str, pairs: dict[str, Pair], material: dict[str, dict[str, bytes]]
) -> None:
    pair = pairs[victim]
    allowed = ["HS256", "HS384", "HS512", victim]
    for name, data in material[victim].items():
        for hs in ("HS256", "HS512"):
            token = forge(hs, data, {"alg": hs, "typ": "JWT"}, CLAIMS)
            for key in (pair.public, pair.private, jwk.KeySet([pair.public])):
                with pytest.raises(errors.JoseError) as info:
                    jws.verify(token, key, algorithms=allowed)
                assert not isinstance(info.value, errors.ClaimError), name
                with pytest.raises(errors.JoseError):
                    jwt.decode(token, key, algorithms=allowed)


@pytest.mark.parametrize("victim", VICTIMS)
def test_hs256_token_with_the_victims_kid_never_verifies_against_its_keyset(
    victim: str, pairs: dict[str, Pair], material: dict[str, dict[str, bytes]]
) -> None:
    pair = pairs[victim]
    keys = jwk.KeySet([pair.public])
    header = {"alg": "HS256", "kid": pair.public.kid}
    token = forge("HS256", material[victim]["spki-pem"], header, CLAIMS)
    with pytest.raises(errors.InvalidSignatureError):
        jws.verify(token, keys, algorithms=["HS256", victim])


@pytest.mark.parametrize("victim", VICTIMS)
def test_hmac_signing_with_an_asymmetric_key_is_refused(
    victim: str, pairs: dict[str, Pair]
) -> None:
    for key in (pairs[victim].public, pairs[victim].private):
        with pytest.raises((errors.InvalidKeyError, errors.UnsupportedAlgorithmError)):
            jws.sign(b"{}", key, algorithm="HS256")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "PS256"])
def test_signing_with_a_public_key_is_refused(alg: str, pairs: dict[str, Pair]) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"{}", pairs[alg].public)


@pytest.mark.parametrize(
    ("token_alg", "key_alg"),
    [
        ("RS256", "HS256"),
        ("ES256", "RS256"),
        ("EdDSA", "ES256"),
        ("ES256", "EdDSA"),
        ("ES384", "ES256"),
        ("ES256K", "ES256"),
        ("Ed448", "Ed25519"),
        ("HS256", "HS512"),
    ],
)
def test_token_alg_must_fit_the_key_type_and_curve(
    token_alg: str, key_alg: str, pairs: dict[str, Pair]
) -> None:
    token = jws.sign(b"{}", pairs[token_alg].private, algorithm=token_alg)
    with pytest.raises(errors.JoseError) as info:
        jws.verify(token, pairs[key_alg].public, algorithms=[token_alg, key_alg])
    assert not isinstance(info.value, errors.MalformedTokenError)


def test_key_load_never_treats_bytes_as_a_raw_secret(
    pairs: dict[str, Pair], material: dict[str, dict[str, bytes]]
) -> None:
    with pytest.raises(errors.InvalidKeyError):
        jwk.Key.load(b"k" * 64)
    loaded = jwk.Key.load(material["RS256"]["spki-pem"])
    assert loaded.kty == "RSA"
    assert not loaded.is_symmetric
    assert loaded.thumbprint() == pairs["RS256"].public.thumbprint()
