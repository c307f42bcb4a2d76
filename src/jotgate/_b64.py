"""Strict base64url (RFC 7515 §2, RFC 4648 §5): canonical, unpadded, nothing else.

Every base64url string the library reads goes through :func:`decode`, which
accepts exactly one spelling per byte string: the URL-safe alphabet, no ``=``
padding, no whitespace, a length that is not 1 mod 4, and zero bits in the
unused low bits of the last character. Anything else is a
:class:`~jotgate.errors.MalformedTokenError` (or the error class the caller
names), so two different strings never decode to the same bytes and a
signature cannot be "re-padded" into a second valid token.
"""

from __future__ import annotations

import binascii

from .errors import JoseError, MalformedTokenError

__all__ = ["decode", "decode_ascii", "encode", "encode_str"]

# Map the URL-safe alphabet onto the standard one so that binascii's strict
# C decoder can do the work. '+', '/' and '=' are mapped to '!', a byte the
# strict decoder refuses, because they are not part of base64url at all.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")

# The characters allowed last when the length is 2 or 3 mod 4: their unused
# low bits (4 resp. 2) must be zero for the encoding to be canonical.
_LAST_WHEN_2 = frozenset(b"AQgw")
_LAST_WHEN_3 = frozenset(b"AEIMQUYcgkosw048")
_PADDING = (b"", b"", b"==", b"=")
a2b_base64 = binascii.a2b_base64


def encode(data: bytes) -> bytes:
    """Encode bytes as unpadded base64url, returning ASCII bytes."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def encode_str(data: bytes) -> str:
    """Encode bytes as unpadded base64url, returning a str."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def decode(
    value: str | bytes,
    *,
    what: str = "base64url data",
    error: type[JoseError] = MalformedTokenError,
) -> bytes:
    """Decode canonical unpadded base64url, refusing every other spelling.

    ``what`` names the part in the error message ("JWS signature", ...);
    ``error`` is the class raised, so JWK parsing can raise InvalidKeyError.
    """
    if isinstance(value, str):
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            raise error(f"{what} is not base64url: non-ASCII characters") from None
    elif isinstance(value, bytes):
        raw = value
    else:
        raise error(f"{what} must be a string, not {type(value).__name__}")
    return decode_ascii(raw, what, error)


def decode_ascii(
    raw: bytes, what: str = "base64url data", error: type[JoseError] = MalformedTokenError
) -> bytes:
    """:func:`decode` for bytes the caller already holds (the verify hot path)."""
    rem = len(raw) & 3
    if rem:
        if rem == 1:
            raise error(f"{what} is not base64url: impossible length")
        if raw[-1] not in (_LAST_WHEN_2 if rem == 2 else _LAST_WHEN_3):
            raise error(f"{what} is not canonical base64url")
    try:
        return a2b_base64(raw.translate(_TO_STANDARD) + _PADDING[rem], strict_mode=True)
    except binascii.Error:
        raise error(f"{what} is not base64url") from None
