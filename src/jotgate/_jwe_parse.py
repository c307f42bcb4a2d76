"""Reading a compact JWE: size caps, the five parts, the strict protected header, inflation.

Split from :mod:`jotgate.jwe` so the public module stays a thin face. Every
fault here is the one :class:`~jotgate.errors.DecryptionError` (through
:func:`jotgate._jwe_content.fail`), or a codec error that the decrypt core
turns into it.
"""

from __future__ import annotations

import re
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

# The end of an ECDH-ES header as jotgate (and any library that sorts the epk's
# members and puts it last, without spaces) writes it: `,"epk":{...}}`. Every
# value is limited to characters that JSON never escapes, so the matched text
# is the values. A `,"` never occurs inside a JSON string (a bare quote ends
# it), so the match is a member of the top-level object: see _check.
_EPK_TAIL: Final = re.compile(
    r',"epk":\{"crv":"([A-Za-z0-9-]{1,16})","kty":"(EC|OKP)",'
    r'"x":"([A-Za-z0-9_-]{1,128})"(?:,"y":"([A-Za-z0-9_-]{1,128})")?\}\}\Z'
)
# Everything before the epk of a checked ECDH-ES header (as Latin-1 text) ->
# that header without its epk (flat: every value a scalar, so sharing it is safe).
_epk_statics: dict[str, dict[str, Any]] = {}
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


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
    # At most five parts however many dots (never a huge list); a dot left in
    # the last, or fewer parts, is not a JWE (a 3-part JWS, for one).
    parts = token.split(".", 4)
    if len(parts) != 5 or "." in parts[4]:
        fail()
    return parts


def load_header(segment: str) -> dict[str, Any]:
    """Decode and check a protected header; every fault is the one DecryptionError."""
    if len(segment) > MAX_HEADER_LENGTH:
        fail()
    raw = _b64.decode(segment)
    # Latin-1 maps each byte to one character: positions and the ASCII the
    # match captures carry over as they are; the JSON text itself stays UTF-8.
    text = raw.decode("latin-1")
    at = text.rfind(',"epk":{')
    if at > 0:
        tail = _EPK_TAIL.match(text, at)
        if tail is not None:
            static = _epk_statics.get(text[:at])
            if static is not None:
                return _with_epk(static, tail)
            return _check(_json.loads_object(raw, what="JWE header"), segment, text[:at], tail)
    return _check(_json.loads_object(raw, what="JWE header"), segment, None, None)


def _with_epk(static: dict[str, Any], tail: re.Match[str]) -> dict[str, Any]:
    """A header of a known static part and the epk its ``_EPK_TAIL`` match spells out."""
    crv, kty, x, y = tail.groups()
    epk = {"crv": crv, "kty": kty, "x": x}
    if y is not None:
        epk["y"] = y
    header = static.copy()  # about half the time of {**static, "epk": epk}
    header["epk"] = epk
    return header


def _check(
    header: dict[str, Any], segment: str, prefix: str | None, tail: re.Match[str] | None
) -> dict[str, Any]:
    """The checks of a parsed header; remember it (or its static part) when that pays.

    ``prefix`` and ``tail`` split an ECDH-ES header's text before its epk (as
    :data:`_EPK_TAIL` matched it). The static part is remembered only when the
    strict parse of the whole text equals it plus the matched epk: then the
    prefix is a complete top-level object but for its closing brace, without
    an epk of its own, and any header spelled prefix + a matching tail parses
    to that part plus the tail's epk, which :func:`load_header` builds directly.
    """
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
    elif prefix is not None and tail is not None:
        # An ECDH-ES header whose epk is its last member, spelled as jotgate
        # writes it: what precedes the epk (alg, enc, kid, cty...) repeats for
        # every token of a sender, so it is parsed once and remembered; the
        # epk differs every time and is read from the match (its coordinates
        # are still decoded and checked on the curve by the key manager).
        static = {name: value for name, value in header.items() if name != "epk"}
        if _with_epk(static, tail) == header and all(
            type(value) in _SCALARS for value in static.values()
        ):
            if len(_epk_statics) >= _HEADER_CACHE_SIZE:
                _epk_statics.clear()
            _epk_statics[prefix] = static
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
