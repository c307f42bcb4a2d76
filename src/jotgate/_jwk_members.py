"""JWK members <-> ``cryptography`` key objects (RFC 7517, RFC 7518 §6, RFC 8037).

Parsing is strict: members must have the right JSON types, base64url must be
canonical, coordinates and private scalars must have exactly the length the
curve fixes, RSA integers carry no leading zero octets, and every key is
checked by ``cryptography`` (points on the curve, consistent RSA CRT
values) and by :mod:`jotgate._keycheck` (strength). Every failure is an
:class:`~jotgate.errors.InvalidKeyError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from . import _b64
from ._keycheck import check_rsa_public
from .errors import InvalidKeyError
from .jwa import EC_CURVE_BY_NAME, EC_CURVES, PrivateKey, PublicKey

__all__ = [
    "OKP_CURVES",
    "AnyPrivate",
    "AnyPublic",
    "parse_asymmetric",
    "private_members",
    "public_members",
]

AnyPublic: TypeAlias = PublicKey | x25519.X25519PublicKey | x448.X448PublicKey
AnyPrivate: TypeAlias = PrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey

# OKP curve -> (private class, public class, key length in bytes).
OKP_CURVES: dict[str, tuple[Any, Any, int]] = {
    "Ed25519": (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey, 32),
    "Ed448": (ed448.Ed448PrivateKey, ed448.Ed448PublicKey, 57),
    "X25519": (x25519.X25519PrivateKey, x25519.X25519PublicKey, 32),
    "X448": (x448.X448PrivateKey, x448.X448PublicKey, 56),
}


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if value is None:
        raise InvalidKeyError(f"JWK is missing the {name!r} member")
    if not isinstance(value, str):
        raise InvalidKeyError(f"JWK member {name!r} must be a string")
    return _b64.decode(value, what=f"JWK member {name!r}", error=InvalidKeyError)


def _integer(jwk: Mapping[str, Any], name: str) -> int:
    raw = _member(jwk, name)
    # RFC 7518 §6.3.1: the minimum number of octets, so no leading zero.
    if not raw or raw[0] == 0:
        raise InvalidKeyError(f"JWK member {name!r} is not a minimal big-endian integer")
    return int.from_bytes(raw, "big")


def _fixed(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    raw = _member(jwk, name)
    if len(raw) != size:
        raise InvalidKeyError(f"JWK member {name!r} must be {size} bytes, not {len(raw)}")
    return raw


def _crv(jwk: Mapping[str, Any], known: Mapping[str, object]) -> str:
    crv = jwk.get("crv")
    if not isinstance(crv, str) or crv not in known:
        raise InvalidKeyError(f"unsupported or missing JWK 'crv' for kty {jwk.get('kty')!r}")
    return crv


def _rsa(jwk: Mapping[str, Any]) -> tuple[AnyPrivate | None, AnyPublic]:
    n, e = _integer(jwk, "n"), _integer(jwk, "e")
    check_rsa_public(n, e)
    public_numbers = rsa.RSAPublicNumbers(e, n)
    if "d" not in jwk:
        return None, public_numbers.public_key()
    if "oth" in jwk:
        raise InvalidKeyError("multi-prime RSA keys ('oth') are not supported")
    d = _integer(jwk, "d")
    crt = ("p", "q", "dp", "dq", "qi")
    present = [name for name in crt if name in jwk]
    if present and len(present) != len(crt):
        raise InvalidKeyError("JWK RSA private key must have all of p, q, dp, dq, qi or none")
    try:
        if present:
            p, q = _integer(jwk, "p"), _integer(jwk, "q")
            dp, dq, qi = _integer(jwk, "dp"), _integer(jwk, "dq"), _integer(jwk, "qi")
        else:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
            dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        private = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public_numbers).private_key()
    except (ValueError, TypeError) as exc:
        raise InvalidKeyError("JWK RSA private key is inconsistent") from exc
    return private, private.public_key()


def _ec(jwk: Mapping[str, Any]) -> tuple[AnyPrivate | None, AnyPublic]:
    crv = _crv(jwk, EC_CURVES)
    curve_class, size, order = EC_CURVES[crv]
    x = int.from_bytes(_fixed(jwk, "x", size), "big")
    y = int.from_bytes(_fixed(jwk, "y", size), "big")
    try:
        public = ec.EllipticCurvePublicNumbers(x, y, curve_class()).public_key()
    except ValueError as exc:
        raise InvalidKeyError(f"JWK point is not on the {crv} curve") from exc
    # Coordinates must be reduced modulo the field prime (SEC 1); cryptography
    # reduces them silently, which would give one key two JWK spellings.
    point = public.public_numbers()
    if (point.x, point.y) != (x, y):
        raise InvalidKeyError(f"JWK coordinates are not reduced modulo the {crv} field prime")
    if "d" not in jwk:
        return None, public
    d = int.from_bytes(_fixed(jwk, "d", size), "big")
    if not 0 < d < order:
        raise InvalidKeyError("JWK EC private scalar is out of range")
    private = ec.derive_private_key(d, curve_class())
    if private.public_key().public_numbers() != public.public_numbers():
        raise InvalidKeyError("JWK EC private key does not match its public point")
    return private, public


def _okp(jwk: Mapping[str, Any]) -> tuple[AnyPrivate | None, AnyPublic]:
    crv = _crv(jwk, OKP_CURVES)
    private_class, public_class, size = OKP_CURVES[crv]
    x = _fixed(jwk, "x", size)
    try:
        public = public_class.from_public_bytes(x)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKeyError(f"JWK 'x' is not a valid {crv} public key") from exc
    if "d" not in jwk:
        return None, public
    private = private_class.from_private_bytes(_fixed(jwk, "d", size))
    if private.public_key().public_bytes_raw() != x:
        raise InvalidKeyError("JWK OKP private key does not match its public key")
    return private, public


_PARSERS = {"RSA": _rsa, "EC": _ec, "OKP": _okp}


def parse_asymmetric(jwk: Mapping[str, Any]) -> tuple[AnyPrivate | None, AnyPublic]:
    """Build (private or None, public) ``cryptography`` objects from JWK members."""
    kty = jwk.get("kty")
    parser = _PARSERS.get(kty) if isinstance(kty, str) else None
    if parser is None:
        raise InvalidKeyError(f"unsupported JWK 'kty' {str(jwk.get('kty'))[:16]!r}")
    return parser(jwk)


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64.encode_str(value.to_bytes(length, "big"))


def curve_of(public: AnyPublic) -> str | None:
    """The JWK ``crv`` of an EC or OKP public key (None for RSA)."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        crv = EC_CURVE_BY_NAME.get(public.curve.name)
        if crv is None:
            raise InvalidKeyError(f"unsupported elliptic curve {public.curve.name}")
        return crv
    for crv, (_, public_class, _) in OKP_CURVES.items():
        if isinstance(public, public_class):
            return crv
    return None


def public_members(public: AnyPublic) -> dict[str, str]:
    """The public JWK members in RFC 7638 order (``kty`` included)."""
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    crv = curve_of(public)
    assert crv is not None
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = EC_CURVES[crv][1]
        point = public.public_numbers()
        return {"crv": crv, "kty": "EC", "x": _uint(point.x, size), "y": _uint(point.y, size)}
    return {"crv": crv, "kty": "OKP", "x": _b64.encode_str(public.public_bytes_raw())}


def private_members(private: AnyPrivate) -> dict[str, str]:
    """The private JWK members (``d`` and, for RSA, the CRT values)."""
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()
        return {
            "d": _uint(numbers.d),
            "p": _uint(numbers.p),
            "q": _uint(numbers.q),
            "dp": _uint(numbers.dmp1),
            "dq": _uint(numbers.dmq1),
            "qi": _uint(numbers.iqmp),
        }
    if isinstance(private, ec.EllipticCurvePrivateKey):
        size = EC_CURVES[EC_CURVE_BY_NAME[private.curve.name]][1]
        return {"d": _uint(private.private_numbers().private_value, size)}
    return {"d": _b64.encode_str(private.private_bytes_raw())}
