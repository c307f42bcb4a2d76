"""JWS compact serialization (RFC 7515): one strict verify core, one signer.

Every verification in jotgate — :func:`verify`, :func:`jotgate.jwt.decode`,
the middleware, the server — goes through :func:`verify_compact`. It checks
sizes before decoding anything, parses the protected header strictly (and
remembers headers it has already validated, since a service sees the same few
headers millions of times), insists that the header's ``alg`` is one the
caller allowed, lets the key source pick keys by ``kid`` and algorithm, and
only then decodes the payload. Keys named by the token itself (``jwk``,
``jku``, ``x5u``, ``x5c``) are never used.

Example::

    token = jws.sign(b"hello", key)
    verified = jws.verify(token, key, algorithms=["ES256"])
    assert verified.payload == b"hello"
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final, NamedTuple

from . import _b64, _json
from ._b64 import decode_ascii
from ._json import copy_tree
from .errors import (
    InvalidKeyError,
    InvalidSignatureError,
    MalformedTokenError,
    UnsupportedAlgorithmError,
)
from .jwa import ALGORITHMS, Algorithm, Verifier
from .jwa import get as get_algorithm
from .jwk import Key, KeySource

__all__ = [
    "MAX_HEADER_LENGTH",
    "MAX_TOKEN_LENGTH",
    "Verified",
    "sign",
    "verify",
    "verify_compact",
]

#: Longest compact token accepted, in characters; checked before any decoding.
MAX_TOKEN_LENGTH: Final = 64 * 1024
#: Longest protected-header segment accepted, in characters.
MAX_HEADER_LENGTH: Final = 4096

# Header parameters whose meaning RFC 7515 §4.1 registers; "crit" may not name them.
_REGISTERED: Final = frozenset(
    {"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"}
    | {"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c"}
)
# Extensions we implement and so may appear in "crit": none yet.
_UNDERSTOOD_CRITICAL: Final[frozenset[str]] = frozenset()
_STRING_PARAMS: Final = ("kid", "typ", "cty")

_HEADER_CACHE_SIZE: Final = 1024
# Built once: `str | bytes` inside a call builds a union object on every call.
_TEXT: Final = (str, bytes)
_header_cache: dict[str, dict[str, Any]] = {}


class Verified(NamedTuple):
    """What :func:`verify` returns: the protected header, the payload, the key that verified."""

    header: dict[str, Any]
    payload: bytes
    key: Key


def _load_header(segment: str) -> dict[str, Any]:
    """Decode and validate a protected header; cache it by its segment."""
    if len(segment) > MAX_HEADER_LENGTH:
        raise MalformedTokenError("JWS header is too long")
    header = _json.loads_object(_b64.decode(segment, what="JWS header"), what="JWS header")
    _check_header(header)
    if len(_header_cache) >= _HEADER_CACHE_SIZE:
        _header_cache.clear()  # crude but thread-safe; honest traffic refills it at once
    _header_cache[segment] = header
    return header


def _check_header(header: Mapping[str, Any]) -> None:
    """Every rule a parsed protected header must meet; a JoseError names the first broken.

    :mod:`jotgate.dpop` calls it for the proof headers it parses and caches itself.
    """
    if "alg" not in header:
        raise MalformedTokenError("JWS header has no 'alg'")
    if "enc" in header:
        raise MalformedTokenError("this is a JWE header, not a JWS header")
    get_algorithm(header["alg"])  # unknown algorithms and 'none' end here
    for name in _STRING_PARAMS:
        if name in header and not isinstance(header[name], str):
            raise MalformedTokenError(f"JWS header {name!r} must be a string")
    if "crit" in header:
        _check_crit(header)
    if "b64" in header and header["b64"] is not True:
        raise MalformedTokenError("unencoded payloads (RFC 7797 b64=false) are not supported")
    if "zip" in header:
        raise MalformedTokenError("'zip' is not allowed in a JWS header")


def _check_crit(header: Mapping[str, Any]) -> None:
    crit = header["crit"]
    if not isinstance(crit, list) or not crit:
        raise MalformedTokenError("JWS header 'crit' must be a non-empty array")
    for name in crit:
        if not isinstance(name, str) or name in _REGISTERED:
            raise MalformedTokenError("JWS header 'crit' names an invalid parameter")
        if name not in header:
            raise MalformedTokenError("JWS header 'crit' names a parameter that is absent")
        if name not in _UNDERSTOOD_CRITICAL:
            raise MalformedTokenError(f"unsupported critical header parameter {name[:32]!r}")
    if len(set(crit)) != len(crit):
        raise MalformedTokenError("JWS header 'crit' repeats a name")


def split_compact(token: object) -> tuple[bytes, str, str, str]:
    """Size-check and split a compact JWS: (raw, header, payload, signature) segments."""
    if isinstance(token, str):
        if len(token) > MAX_TOKEN_LENGTH:
            raise MalformedTokenError("the token is too long")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("the token has non-ASCII characters") from None
        text = token
    elif isinstance(token, bytes):
        if len(token) > MAX_TOKEN_LENGTH:
            raise MalformedTokenError("the token is too long")
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedTokenError("the token has non-ASCII characters") from None
        raw = token
    else:
        raise MalformedTokenError(f"a token must be a string, not {type(token).__name__}")
    dots = text.count(".")  # before split(): a token of dots must not become a huge list
    if dots != 2:
        if dots == 4:
            raise MalformedTokenError("this is a JWE (5 parts), not a JWS")
        raise MalformedTokenError("a compact JWS has three dot-separated parts")
    head, body, tail = text.split(".")
    return raw, head, body, tail


def _check_algorithms(algorithms: Collection[str]) -> None:
    if isinstance(algorithms, _TEXT) or not algorithms:
        raise UnsupportedAlgorithmError(
            "algorithms must be a non-empty list of algorithm names, e.g. ['ES256']"
        )


def verify_compact(
    token: str | bytes, key: KeySource, algorithms: Collection[str]
) -> tuple[dict[str, Any], bytes, Key]:
    """The verify core: (header, payload, key) of a valid compact JWS, or a JoseError.

    The returned header is shared with the header cache: do not mutate it.
    """
    if isinstance(algorithms, _TEXT) or not algorithms:
        _check_algorithms(algorithms)  # a string would make `in` a substring test
    raw, head, body, _ = split_compact(token)
    header = _header_cache.get(head)
    if header is None:
        header = _load_header(head)
    name = header["alg"]
    if name not in algorithms:
        raise UnsupportedAlgorithmError(f"algorithm {name} is not allowed here")
    alg = ALGORITHMS[name]
    start = len(head) + 1
    stop = start + len(body)
    signing_input = raw[:stop]
    signature = decode_ascii(raw[stop + 1 :], "JWS signature")
    if type(key) is Key:
        # The common case, without building a candidate tuple.
        verify = key._verifiers.get(name) or key.verifier(alg)
        if verify(signing_input, signature):
            return header, decode_ascii(raw[start:stop], "JWS payload"), key
        raise InvalidSignatureError("the signature does not verify")
    if not hasattr(key, "select"):
        raise InvalidKeyError("verify with a jwk.Key or jwk.KeySet, e.g. jwk.Key.from_pem(...)")
    for candidate in key.select(alg, header.get("kid")):
        if candidate.verifier(alg)(signing_input, signature):
            return header, decode_ascii(raw[start:stop], "JWS payload"), candidate
    raise InvalidSignatureError("the signature does not verify with any key")


def _verify_segments(raw: bytes, head: str, body: str, verify: Verifier) -> bytes:
    """The payload of a split compact JWS whose signature ``verify`` accepts.

    :func:`verify_compact`'s last step, for a caller that already split the
    token (``raw`` and the segments as :func:`split_compact` returns them),
    checked its header with :func:`_check_header`, allowed its ``alg`` and chose
    ``verify`` (``key.verifier(alg)``) for it: DPoP, whose header carries the
    key, so that the header is looked up once. A JoseError when it fails.
    """
    start = len(head) + 1
    stop = start + len(body)
    if verify(raw[:stop], decode_ascii(raw[stop + 1 :], "JWS signature")):
        return decode_ascii(raw[start:stop], "JWS payload")
    raise InvalidSignatureError("the signature does not verify")


def verify(token: str | bytes, key: KeySource, *, algorithms: Collection[str]) -> Verified:
    """Verify a compact JWS and return its header, payload and the key that verified it.

    ``algorithms`` lists the algorithms to accept (required; ``none`` never is).
    """
    header, payload, used = verify_compact(token, key, algorithms)
    # The header is shared with the cache: hand out a copy the caller may change.
    return Verified(copy_tree(header), payload, used)


# -- signing --------------------------------------------------------------

_SEGMENT_CACHE_SIZE: Final = 256
_segment_cache: dict[tuple[str, str | None, str | None], bytes] = {}


def signing_algorithm(key: Key, algorithm: str | None) -> Algorithm:
    if not isinstance(key, Key):
        raise InvalidKeyError("sign with a jwk.Key")
    if algorithm is None:
        return key.default_algorithm()
    return get_algorithm(algorithm)


def header_segment(
    alg: Algorithm, key: Key, headers: Mapping[str, Any] | None, typ: str | None
) -> bytes:
    """The encoded protected header: ``alg``, ``typ``, ``kid``, then the caller's extras."""
    if not headers:
        cache_key = (alg.name, key.kid, typ)
        segment = _segment_cache.get(cache_key)
        if segment is None:
            segment = _b64.encode(_json.dumps(_header(alg, key, None, typ)))
            if len(_segment_cache) >= _SEGMENT_CACHE_SIZE:
                _segment_cache.clear()
            _segment_cache[cache_key] = segment
        return segment
    return _b64.encode(_json.dumps(_header(alg, key, headers, typ)))


def _header(
    alg: Algorithm, key: Key, headers: Mapping[str, Any] | None, typ: str | None
) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": alg.name}
    if typ is not None:
        header["typ"] = typ
    if key.kid is not None:
        header["kid"] = key.kid
    if headers:
        extra = dict(headers)
        if extra.pop("alg", alg.name) != alg.name:
            raise UnsupportedAlgorithmError("headers['alg'] differs from the signing algorithm")
        for name in ("crit", "b64", "zip", "enc"):
            if name in extra:
                raise MalformedTokenError(f"jotgate does not sign tokens with a {name!r} header")
        header.update(extra)
    return header


def sign_segments(payload_segment: bytes, key: Key, alg: Algorithm, header: bytes) -> str:
    """Sign ``header.payload`` (both already base64url) and return the compact token."""
    signing_input = header + b"." + payload_segment
    signature = key.signer(alg)(signing_input)
    return (signing_input + b"." + _b64.encode(signature)).decode("ascii")


def sign(
    payload: bytes,
    key: Key,
    algorithm: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``payload`` as a compact JWS.

    ``algorithm`` defaults to the key's ``alg``, else the usual one for its
    type (HS256, RS256, ES256/384/512 by curve, EdDSA). ``headers`` adds
    protected header parameters; ``kid`` comes from the key unless given.
    """
    if not isinstance(payload, bytes):
        raise TypeError("the JWS payload must be bytes")
    alg = signing_algorithm(key, algorithm)
    return sign_segments(_b64.encode(payload), key, alg, header_segment(alg, key, headers, None))
