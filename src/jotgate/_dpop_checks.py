"""Small pieces of :func:`jotgate.dpop.verify_proof`, kept apart to keep ``dpop`` short.

None of them raises a DPoP error: they answer questions (same? how many seconds?)
or refuse a caller's configuration with a core error.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import json
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any, Final

from . import _json
from ._claims import duration_seconds
from ._dpop_create import access_token_hash
from .errors import UnsupportedAlgorithmError
from .jwa import ALGORITHMS

__all__ = ["aths", "cached_ath", "check_algorithms", "claims_object", "same", "seconds"]

_CACHE_SIZE: Final = 1024
_compare_digest: Final = _stdlib_hmac.compare_digest
#: Access token -> ath: a token is presented with many proofs over its life.
aths: dict[str, str] = {}


# The C scanner building dicts itself: no Python hook per object, unlike the
# strict decoder's duplicate-name check, which claims_object does another way.
# The strict decoder's NaN/Infinity and overflow hooks: their errors are
# ValueErrors, which send the text to the strict parser.
_plain = json.JSONDecoder(parse_constant=_json._refuse_constant, parse_float=_json._finite_float)
_scan: Callable[[str, int], tuple[Any, int]] = _plain.scan_once  # type: ignore[attr-defined]


def claims_object(payload: bytes) -> dict[str, Any]:
    """A proof's claims: :func:`jotgate._json.loads_object`'s answer, sooner for plain ones.

    The plain C scanner builds the dict without the strict decoder's Python
    hook per object, which is what catches a repeated name. Its answer is kept
    only for a text without backslashes and without whitespace after a quote
    (``\\t``, ``\\n``, ``\\r`` are whitespace wherever they stand: the scanner
    refuses them raw inside strings). In such a text every ``"`` delimits a
    string and every name is followed at once by ``:``, so ``":`` occurs at
    least once per name at any depth; occurring exactly as often as the dict
    has members leaves no room for a repeated or nested name. Anything else
    (and any scanner error) takes the strict parser, which also names the fault.
    """
    try:
        text = payload.decode("utf-8")
        value, end = _scan(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return _json.loads_object(payload, what="DPoP proof claims")
    if (
        end == len(text)
        and type(value) is dict
        and "\\" not in text
        and '" ' not in text
        and "\t" not in text
        and "\n" not in text
        and "\r" not in text
        and text.count('":') == len(value)
    ):
        return value
    return _json.loads_object(payload, what="DPoP proof claims")


def check_algorithms(algorithms: Collection[str]) -> None:
    """Refuse an ``algorithms`` list that is empty, a string, or names a symmetric alg."""
    if isinstance(algorithms, str | bytes) or not algorithms:
        raise UnsupportedAlgorithmError("algorithms must be a non-empty list, e.g. ['ES256']")
    for name in algorithms:
        row = ALGORITHMS.get(name) if isinstance(name, str) else None
        if row is None or row.kty == "oct":
            raise UnsupportedAlgorithmError(
                f"DPoP proofs use asymmetric algorithms; {str(name)[:32]!r} cannot be allowed"
            )


def cached_ath(access_token: str) -> str:
    """``ath`` of ``access_token``, remembered in :data:`aths` (bounded, cleared when full)."""
    ath = access_token_hash(access_token)
    if len(aths) >= _CACHE_SIZE:
        aths.clear()
    aths[access_token] = ath
    return ath


def seconds(value: float | timedelta) -> float:
    """Seconds in a duration option (a number, a ``timedelta`` or ``"1m"``)."""
    if type(value) is int or type(value) is float:
        return value  # the common case, without parsing
    return duration_seconds(value)


def same(a: str, b: str) -> bool:
    """Constant-time equality of two strings (compare_digest refuses non-ASCII str)."""
    if a.isascii() and b.isascii():
        return _compare_digest(a, b)  # thumbprints, hashes, nonces: the usual case
    return _compare_digest(a.encode("utf-8"), b.encode("utf-8"))
