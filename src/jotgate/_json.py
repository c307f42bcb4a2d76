"""Strict JSON for JOSE headers and claim sets (RFC 7515 §4, RFC 7519 §7.2).

One place decodes "bytes that must be a UTF-8 JSON object": valid UTF-8 only
(no UTF-16/32 sniffing, no BOM), no duplicate member names at any depth
(RFC 7515 §5.2 lets us refuse them, and accepting them invites parser
confusion between jotgate and whatever reads the token next), no ``NaN`` or
``Infinity`` and no number that overflows to infinity, no lone surrogates,
and a JSON object at the top. The error class is a parameter so JWK parsing
can raise :class:`~jotgate.errors.InvalidKeyError` for the same faults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, NoReturn

from .errors import JoseError, MalformedTokenError

__all__ = ["copy_tree", "dumps", "loads_object"]


class _Refused(ValueError):
    """Raised inside the decoder's hooks; turned into the caller's error."""


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("duplicate member name")
    return obj


def _refuse_constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("number out of range")
    return value


_decoder = json.JSONDecoder(
    object_pairs_hook=_object_pairs,
    parse_constant=_refuse_constant,
    parse_float=_finite_float,
)
_decode = _decoder.decode
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_encode = _encoder.encode


def loads_object(
    data: bytes,
    *,
    what: str = "JSON",
    error: type[JoseError] = MalformedTokenError,
) -> dict[str, Any]:
    """Parse UTF-8 bytes that must hold one JSON object, strictly."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} is not valid UTF-8") from None
    try:
        # The C scanner alone, skipping JSONDecoder.decode's Python wrapper;
        # text with surrounding whitespace takes the full (equally strict) path.
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            value = _decode(text)
    except _Refused as exc:
        raise error(f"{what} is not acceptable JSON: {exc}") from None
    except (ValueError, RecursionError):
        # JSONDecodeError is a ValueError; so are int-digit-limit errors.
        raise error(f"{what} is not valid JSON") from None
    if type(value) is not dict:
        raise error(f"{what} must be a JSON object")
    if "\\ud" in text or "\\uD" in text:
        # Escaped lone surrogates decode to str that cannot be UTF-8 encoded.
        try:
            _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            raise error(f"{what} contains an unpaired surrogate") from None
    return value


def dumps(value: Any) -> bytes:
    """Serialize compactly as UTF-8 (no spaces, no ASCII escaping, no NaN)."""
    try:
        return _encode(value).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"value is not JSON serializable: {exc}") from None


def copy_tree(value: Any) -> Any:
    """A deep copy of a parsed JSON value: dicts and lists copied, scalars shared.

    Several times cheaper than ``copy.deepcopy``, which must handle any object.
    """
    kind = type(value)
    if kind is dict:
        return {name: copy_tree(item) for name, item in value.items()}
    if kind is list:
        return [copy_tree(item) for item in value]
    return value
