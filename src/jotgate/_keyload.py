"""Loading, generating and serializing asymmetric keys through ``cryptography``.

Turns PEM, DER, X.509 certificates and ``cryptography`` objects into the
(private, public) pair a :class:`~jotgate.jwk.Key` holds, applying the same
strength checks as JWK import, and translating every ``cryptography``
exception into :class:`~jotgate.errors.InvalidKeyError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from ._json import loads_object
from ._jwk_members import AnyPrivate, AnyPublic, curve_of
from ._keycheck import MIN_RSA_BITS, check_rsa_public
from .errors import InvalidKeyError
from .jwa import EC_CURVES, Algorithm

__all__ = [
    "check_key_object",
    "generate_private",
    "jwk_object",
    "load_der",
    "load_pem",
    "to_pem",
]

_MAX_KEY_DOCUMENT = 1 << 20  # 1 MiB: no honest key or JWK Set is bigger.
_PRIVATE_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    x25519.X25519PrivateKey,
    x448.X448PrivateKey,
)
_PUBLIC_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    x25519.X25519PublicKey,
    x448.X448PublicKey,
)


def check_key_object(obj: object) -> tuple[AnyPrivate | None, AnyPublic]:
    """Validate a ``cryptography`` key object; return (private or None, public)."""
    if isinstance(obj, _PRIVATE_TYPES):
        private: AnyPrivate | None = obj
        public: AnyPublic = obj.public_key()
    elif isinstance(obj, _PUBLIC_TYPES):
        private, public = None, obj
    else:
        raise InvalidKeyError(f"unsupported key type {type(obj).__name__}")
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        check_rsa_public(numbers.n, numbers.e)
    else:
        curve_of(public)  # refuses curves outside the JOSE registry
    return private, public


def _password_bytes(password: bytes | str | None) -> bytes | None:
    return password.encode("utf-8") if isinstance(password, str) else password


def load_pem(
    data: bytes | str, password: bytes | str | None
) -> tuple[AnyPrivate | None, AnyPublic]:
    """Load a PEM public key, private key (optionally encrypted) or certificate."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not isinstance(raw, bytes) or len(raw) > _MAX_KEY_DOCUMENT:
        raise InvalidKeyError("PEM data must be bytes or str of reasonable size")
    secret = _password_bytes(password)
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            return check_key_object(x509.load_pem_x509_certificate(raw).public_key())
        if b"PRIVATE KEY-----" in raw:
            if b"OPENSSH PRIVATE KEY" in raw:
                raise InvalidKeyError("OpenSSH private keys are not supported; convert to PKCS#8")
            return check_key_object(serialization.load_pem_private_key(raw, password=secret))
        if b"PUBLIC KEY-----" in raw:
            return check_key_object(serialization.load_pem_public_key(raw))
    except InvalidKeyError:
        raise
    except TypeError as exc:
        # cryptography says TypeError for a missing or unexpected password.
        raise InvalidKeyError(f"cannot load the PEM key: {_password_hint(exc)}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKeyError(
            "cannot load the PEM key: malformed, unsupported or wrong password"
        ) from exc
    raise InvalidKeyError("no PEM key, private key or certificate found")


def load_der(data: bytes, password: bytes | str | None) -> tuple[AnyPrivate | None, AnyPublic]:
    """Load a DER public key, private key (optionally encrypted) or certificate."""
    if not isinstance(data, bytes) or len(data) > _MAX_KEY_DOCUMENT:
        raise InvalidKeyError("DER data must be bytes of reasonable size")
    secret = _password_bytes(password)
    errors: list[Exception] = []
    for loader in (
        lambda: serialization.load_der_public_key(data),
        lambda: serialization.load_der_private_key(data, password=secret),
        lambda: x509.load_der_x509_certificate(data).public_key(),
    ):
        try:
            obj = loader()
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            errors.append(exc)
            continue
        return check_key_object(obj)
    if any(isinstance(exc, TypeError) for exc in errors):
        raise InvalidKeyError("cannot load the DER key: it is encrypted; give the password")
    raise InvalidKeyError("cannot load the DER key: malformed, unsupported or wrong password")


def _password_hint(exc: TypeError) -> str:
    text = str(exc).lower()
    if "not encrypted" in text:
        return "the key is not encrypted but a password was given"
    return "the key is encrypted; give the password"


def generate_private(alg: Algorithm, size: int | None) -> AnyPrivate:
    """A fresh private key of the type ``alg`` needs."""
    if alg.kty == "RSA":
        bits = size or 2048
        if bits < MIN_RSA_BITS:
            raise InvalidKeyError(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if alg.kty == "EC":
        (crv,) = alg.curves
        return ec.generate_private_key(EC_CURVES[crv][0]())
    if alg.name == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    return ed25519.Ed25519PrivateKey.generate()


def to_pem(
    private: AnyPrivate | None, public: AnyPublic | None, password: bytes | str | None
) -> bytes:
    """PKCS#8 PEM of ``private`` (encrypted with ``password``) or SPKI PEM of ``public``."""
    if private is not None:
        secret = _password_bytes(password)
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(secret)
            if secret
            else serialization.NoEncryption()
        )
        return private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    if password is not None:
        raise InvalidKeyError("a password applies to private keys only")
    if public is None:
        raise InvalidKeyError("this key has no public part")
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk_object(data: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """A JWK or JWK Set as a dict, from a mapping or strict JSON text."""
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes):
        raise InvalidKeyError("a JWK must be a mapping or JSON text")
    if len(data) > _MAX_KEY_DOCUMENT:
        raise InvalidKeyError("the JWK document is too large")
    return loads_object(data.strip(), what="JWK", error=InvalidKeyError)
