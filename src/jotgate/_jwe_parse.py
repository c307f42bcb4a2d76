"""Reading a compact JWE: size caps, the five parts, the strict protected header, inflation.

Split from :mod:`jotgate.jwe` so the public module stays a thin face. Every
fault here is the one :class:`~jotgate.errors.DecryptionError` (through
:func:`jotgate._jwe_content.fail`), or a codec error that the decrypt core
turns into it.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from . import _b64, _json
from ._jwe_content import ENCRYPTIONS, fail
from ._jwe_keymgmt import ALGORITHMS, FAMILY_PARAMS

__all__ = [
    "MAX_DECOMPRESSED_LENGTH",
    "MAX_HEADER_LENGTH",
    "MAX_TOKEN_LENGTH",
    "STRING_PARAMS",
    "header_cache",
    "inflate",
    "load_header",
    "split",
]

#: Longest compact JWE accepted, in characters; checked before any decoding.
MAX_TOKEN_LENGTH: Final = 256 * 1024
#: Longest protected-header segment accepted, in characters.
MAX_HEADER_LENGTH: Final = 8192
#: Largest plaintext a ``zip: DEF`` token may inflate to (decompression bombs).
MAX_DECOMPRESSED_LENGTH: Final = 256 * 1024
#: Header parameters that must be strings when present.
STRING_PARAMS: Final = ("kid", "typ", "cty")

_HEADER_CACHE_SIZE: Final = 1024
#: Validated static headers by their segment (shared: never mutate a value).
header_cache: dict[str, dict[str, Any]] = {}


def split(token: object) -> list[str]:
    """The five parts of a compact JWE (size-checked before anything else)."""
    if isinstance(token, bytes):
        if len(token) > MAX_TOKEN_LENGTH:
            fail()
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            fail()
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        fail()
    # Counting first: a token made of dots never becomes a huge list.
    if token.count(".") != 4:
        fail()  # a 3-part JWS (or anything else) is not a JWE
    return token.split(".")


def load_header(segment: str) -> dict[str, Any]:
    """Decode and check a protected header; every fault is the one DecryptionError."""
    if len(segment) > MAX_HEADER_LENGTH:
        fail()
    header = _json.loads_object(_b64.decode(segment), what="JWE header")
    alg, enc = header.get("alg"), header.get("enc")
    row = ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if row is None or not isinstance(enc, str) or enc not in ENCRYPTIONS:
        fail()
    if "zip" in header and header["zip"] != "DEF":
        fail()
    for name in STRING_PARAMS:
        if name in header and not isinstance(header[name], str):
            fail()
    if not row.params.issuperset(FAMILY_PARAMS.intersection(header)):
        fail()  # e.g. an "epk" in an A256KW header: not ours to ignore
    if "crit" in header:
        # No extension is understood, so every crit, well-formed or not, names
        # something we must refuse (RFC 7516 §4.1.13).
        fail()
    if not row.params:
        # Static headers (dir, KW, RSA) repeat: remember them. Headers with an
        # epk, iv or salt are unique per token and would only churn the cache.
        if len(header_cache) >= _HEADER_CACHE_SIZE:
            header_cache.clear()
        header_cache[segment] = header
    return header


def inflate(data: bytes) -> bytes:
    """Raw DEFLATE (RFC 1951), refusing output beyond MAX_DECOMPRESSED_LENGTH."""
    inflater = zlib.decompressobj(wbits=-15)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_LENGTH + 1)
    except zlib.error:
        fail()
    # A bomb stops at the cap (unconsumed input left); trailing junk or a
    # truncated stream is refused too.
    if len(out) > MAX_DECOMPRESSED_LENGTH or inflater.unconsumed_tail or not inflater.eof:
        fail()
    if inflater.unused_data:
        fail()
    return out
