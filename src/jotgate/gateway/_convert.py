"""Converters from raw setting values (TOML types, or strings from flags) to typed ones.

Each takes one value and returns the typed form or raises ``ValueError``
with a short reason; :meth:`Settings.validated` prefixes the setting's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from jotgate import jwe
from jotgate.durations import parse_duration
from jotgate.errors import JoseError
from jotgate.jwa import ALGORITHMS
from jotgate.jwk import Key, KeySet

__all__ = [
    "algorithms",
    "boolean",
    "decryption_key_file",
    "encryption_names",
    "header_names",
    "http_url",
    "int_in",
    "key_management_names",
    "listen_address",
    "load_decryption_keys",
    "names",
    "path_prefix",
    "seconds",
    "text",
]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
# RFC 9110 token characters, plus a trailing "*" meaning "every name starting so".
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\*?$")
# Plain path characters only: a prefix with "%" escapes or "?" could not be
# compared with request paths reliably.
_PREFIX: Final = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+$")


def text(value: Any) -> str:
    """A string, stripped."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, not {type(value).__name__}")
    return value.strip()


def boolean(value: Any) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``1``/``0`` from flags)."""
    if isinstance(value, bool):
        return value
    word = text(value).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true or false")


def int_in(low: int, high: int) -> Callable[[Any], int]:
    """A whole number within [low, high]."""

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("expected a whole number")
        try:
            number = int(value)
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return convert


def seconds(*, lower: float = 0.0, upper: float | None = None) -> Callable[[Any], float]:
    """A duration (``30``, ``"30s"``, ``"500ms"``, ``"2m"``) within [lower, upper]."""

    def convert(value: Any) -> float:
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            value = float(value)  # flags arrive as strings; a bare number is seconds
        amount = parse_duration(value)
        if amount < lower or (upper is not None and amount > upper):
            bound = f"between {lower:g}s and {upper:g}s" if upper is not None else f">= {lower:g}s"
            raise ValueError(f"must be {bound}, not {amount:g}s")
        return amount

    return convert


def names(value: Any) -> tuple[str, ...]:
    """A list of words: a TOML array, or one string separated by commas."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of strings")
    result = []
    for item in items:
        word = text(item)
        if not word or any(ch.isspace() for ch in word):
            raise ValueError(f"{item!r} is not a name (empty, or contains spaces)")
        result.append(word)
    return tuple(result)


def header_names(value: Any) -> tuple[str, ...]:
    """Header names (lower-cased); ``X-Internal-*`` names a whole family."""
    result = []
    for name in names(value):
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        result.append(name.lower())
    return tuple(result)


def algorithms(value: Any) -> tuple[str, ...]:
    """JWS algorithm names; HMAC ones are refused (a JWKS carries no secrets)."""
    result = names(value)
    if not result:
        raise ValueError("needs at least one algorithm")
    for name in result:
        row = ALGORITHMS.get(name)
        if row is None:
            raise ValueError(f"unknown algorithm {name!r}")
        if row.kty == "oct":
            raise ValueError(f"{name} needs a shared secret, which a JWKS never holds")
    return result


def http_url(value: Any) -> str:
    """An absolute ``http://`` or ``https://`` URL, without a trailing slash."""
    url = text(value)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in URLs are refused (they would end up in logs)")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} may not have a query or fragment")
    return url.rstrip("/")


def path_prefix(value: Any) -> str:
    """A path prefix such as ``/api`` or ``/api/v1`` (``/`` alone matches everything)."""
    prefix = text(value)
    if prefix == "/":
        return prefix
    prefix = prefix.rstrip("/")
    if not _PREFIX.match(prefix):
        raise ValueError(f"{prefix!r} is not a path prefix like /api (plain characters only)")
    if any(segment in (".", "..") for segment in prefix.split("/")):
        raise ValueError(f"{prefix!r} has a '.' or '..' segment")
    return prefix


def listen_address(value: Any) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as ``(host, port)``."""
    address = text(value)
    host, sep, port = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{address!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int_in(0, 65535)(port)


def load_decryption_keys(path: str) -> KeySet:
    """The private encryption keys in a JWK or JWK Set file (``keys export --use enc --private``).

    Raises ``ValueError`` with a reason that never quotes the file's content.
    """
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read(1_000_001))
    except OSError as exc:
        raise ValueError(f"{path!r}: {exc.strerror or 'cannot be read'}") from None
    except ValueError:
        raise ValueError(f"{path!r}: not a JSON JWK or JWK Set") from None
    try:
        if isinstance(document, dict) and "keys" in document:
            keys = KeySet.from_jwks(document)
        else:
            keys = KeySet([Key.from_jwk(document)])
    except (JoseError, TypeError, ValueError) as exc:
        reason = exc.message if isinstance(exc, JoseError) else "not a JWK or JWK Set"
        raise ValueError(f"{path!r}: {reason}") from None
    if not len(keys) or not all(key.is_private or key.kty == "oct" for key in keys):
        raise ValueError(f"{path!r}: needs the private keys (export them with --private)")
    return keys


def decryption_key_file(value: Any) -> str | None:
    """A readable decryption-key file, checked now so a bad one stops the start."""
    path = text(value)
    if not path:
        return None
    load_decryption_keys(path)
    return path


def key_management_names(value: Any) -> tuple[str, ...]:
    """JWE ``alg`` names (RSA1_5 is refused: the library never decrypts it)."""
    result = names(value)
    if not result:
        raise ValueError("needs at least one algorithm")
    for name in result:
        if name not in jwe.ALGORITHMS:
            raise ValueError(f"unknown JWE algorithm {name!r}")
    return result


def encryption_names(value: Any) -> tuple[str, ...]:
    """JWE ``enc`` names."""
    result = names(value)
    if not result:
        raise ValueError("needs at least one content encryption")
    for name in result:
        if name not in jwe.ENCRYPTIONS:
            raise ValueError(f"unknown JWE encryption {name!r}")
    return result
