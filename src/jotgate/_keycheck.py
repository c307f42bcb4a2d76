"""Checks that refuse weak or wrong key material at import time.

Kept apart from :mod:`jotgate.jwk` because each check encodes a specific
attack and deserves its own comment:

* HMAC secrets that are really public keys (PEM, DER, SSH, JWK, a bare base64
  DER body) are the raw material of the RS256 -> HS256 key-confusion attack:
  a verifier that accepts them lets anyone holding the public key forge
  tokens. No honest secret looks like that.
* RSA moduli under 2048 bits, public exponents that are 1 or even, and moduli
  carrying the ROCA fingerprint (CVE-2017-15361) are factorable or invalid.
"""

from __future__ import annotations

import binascii
import json

from .errors import InvalidKeyError

__all__ = ["check_rsa_public", "check_secret", "has_roca_fingerprint"]

#: Smallest HMAC secret accepted at import: the HS256 hash size. Uses with
#: HS384/HS512 need 48/64 bytes and are checked when the key is used.
MIN_HMAC_SECRET = 32
#: Smallest symmetric key accepted for encryption uses (A128KW, A128GCM).
MIN_ENCRYPTION_SECRET = 16
#: Shortest PBES2 password (NIST SP 800-63B's minimum for memorized secrets);
#: PBKDF2 and its iteration count, not the length, carry the rest.
MIN_PBES2_PASSWORD = 8
MIN_RSA_BITS = 2048

_SSH_MARKERS = (
    b"ssh-rsa",
    b"ssh-dss",
    b"ssh-ed25519",
    b"ssh-ed448",
    b"ecdsa-sha2-",
    b"sk-ssh-",
    b"sk-ecdsa-",
    b"rsa-sha2-",
    b"-cert-v01@openssh.com",
    b"PuTTY-User-Key-File",
)


def _is_der_sequence(data: bytes) -> bool:
    """True when ``data`` is exactly one DER SEQUENCE (as every key encoding is)."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        return 2 + first == len(data)
    count = first & 0x7F
    if not 1 <= count <= 4 or len(data) < 2 + count:
        return False
    length = int.from_bytes(data[2 : 2 + count], "big")
    return 2 + count + length == len(data)


def _looks_like(secret: bytes) -> str | None:
    """Name the kind of key material ``secret`` looks like, or None."""
    text = secret.strip()
    if b"-----BEGIN" in text:
        return "a PEM document"
    if any(marker in text for marker in _SSH_MARKERS):
        return "an SSH key"
    if text.startswith(b"{"):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict) and ("kty" in obj or "keys" in obj):
            return "a JWK"
    if _is_der_sequence(secret):
        return "DER key material"
    # A PEM body without its armour lines: base64 of a DER SEQUENCE ("MII...").
    if text.startswith(b"MI"):
        try:
            body = binascii.a2b_base64(b"".join(text.split()), strict_mode=True)
        except binascii.Error:
            body = b""
        if _is_der_sequence(body):
            return "base64 DER key material"
    return None


def check_secret(secret: bytes, *, minimum: int = MIN_HMAC_SECRET) -> None:
    """Refuse empty, short, or key-material-looking symmetric secrets."""
    if not secret:
        raise InvalidKeyError("the secret is empty")
    kind = _looks_like(secret)
    if kind is not None:
        raise InvalidKeyError(
            f"the secret looks like {kind}; an asymmetric key is never an HMAC secret"
        )
    if len(secret) < minimum:
        raise InvalidKeyError(
            f"the secret is {len(secret)} bytes; at least {minimum} random bytes are required"
        )


# ROCA (Nemec et al., CCS 2017): Infineon's RSALib made primes of the form
# k*M + (65537^a mod M), M a primorial that always includes every prime up
# to 167. So n = p*q is a power of 65537 modulo each of those primes. A
# random modulus is, modulo all of them at once, with probability about
# 2^-28 (the same test as the researchers' own detector).
def _small_primes(limit: int) -> list[int]:
    return [p for p in range(3, limit + 1) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _powers_of_65537(p: int) -> frozenset[int]:
    seen, value = set(), 1
    while value not in seen:
        seen.add(value)
        value = value * 65537 % p
    return frozenset(seen)


_ROCA_TABLE = tuple((p, _powers_of_65537(p)) for p in _small_primes(167))


def has_roca_fingerprint(n: int) -> bool:
    """True when the modulus carries the ROCA (CVE-2017-15361) structure."""
    return all(n % p in powers for p, powers in _ROCA_TABLE)


def check_rsa_public(n: int, e: int) -> None:
    """Refuse RSA public keys that are weak, malformed or factorable."""
    if n.bit_length() < MIN_RSA_BITS:
        raise InvalidKeyError(
            f"RSA key is {n.bit_length()} bits; at least {MIN_RSA_BITS} are required"
        )
    if e < 3 or e % 2 == 0 or e >= n:
        raise InvalidKeyError("RSA public exponent must be odd and greater than 1")
    if n % 2 == 0:
        raise InvalidKeyError("RSA modulus must be odd")
    if has_roca_fingerprint(n):
        raise InvalidKeyError("RSA key has the ROCA fingerprint (CVE-2017-15361); replace it")
