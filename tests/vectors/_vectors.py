"""Loading the transcribed vectors, plus the few independent helpers the tests share.

The helpers use the standard library only (``base64``, ``hmac``), never
jotgate's own codecs: a known-answer test is only worth something when the
answer is computed by a party other than the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
#: RFC 7520 examples as published by the ietf-jose/cookbook repository
#: (public domain, see data/jose-cookbook/LICENSE), copied unchanged.
COOKBOOK = DATA / "jose-cookbook"

#: The payload every RFC 7520 §4 example signs (apostrophes: U+2019, 3 octets).
COOKBOOK_PAYLOAD = (
    "It\u2019s a dangerous business, Frodo, going out your door. You step onto the road,"
    " and if you don't keep your feet, there\u2019s no knowing where you might be swept off to."
).encode()


def load(relative: str) -> dict[str, Any]:
    """Read one vector file below ``data/``."""
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


def cookbook(relative: str) -> dict[str, Any]:
    """Read one cookbook file below ``data/jose-cookbook/``."""
    return json.loads((COOKBOOK / relative).read_text(encoding="utf-8"))


def b64u(data: bytes) -> str:
    """Unpadded base64url, as RFC 7515 §2 defines it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Decode unpadded base64url (the vectors are trusted, so no strictness here)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hs256(secret: bytes, signing_input: bytes) -> str:
    """The base64url HMAC-SHA256 of ``signing_input``: the HS256 signature, computed by hand."""
    return b64u(hmac.new(secret, signing_input, hashlib.sha256).digest())


def hs256_token(secret: bytes, header: bytes, payload_segment: str) -> str:
    """A compact HS256 token over exactly these header octets and payload segment.

    ``payload_segment`` goes into the token as given (it is not encoded here),
    so tests can build RFC 7797 ``b64: false`` and other tokens that no
    conforming signer of ours would produce.
    """
    signing_input = f"{b64u(header)}.{payload_segment}"
    return f"{signing_input}.{hs256(secret, signing_input.encode())}"


def split(token: str) -> tuple[bytes, bytes, bytes]:
    """The decoded (header, payload, signature) octets of a compact token."""
    header, payload, signature = token.split(".")
    return unb64u(header), unb64u(payload), unb64u(signature)


def tamper_payload(token: str) -> str:
    """The same token with one bit of its payload flipped, still canonical base64url."""
    header, payload, signature = token.split(".")
    raw = bytearray(unb64u(payload))
    raw[0] ^= 0x01
    return f"{header}.{b64u(bytes(raw))}.{signature}"
