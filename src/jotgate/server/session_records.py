"""Plain records of the session layer: token pairs, pending revocations, token hashing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["Revocations", "TokenPair", "hash_refresh_token"]


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    """What a login or refresh hands back (the JSON token response)."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    user_id: str
    roles: tuple[str, ...] = ()
    #: "DPoP" when the tokens are bound to a DPoP key (RFC 9449 §5).
    token_type: str = "Bearer"
    #: The fingerprint cookie's value, when the access token carries its hash.
    fingerprint: str | None = None


@dataclass
class Revocations:
    """Sessions revoked in a transaction, to publish to the denylist after commit."""

    sids: list[str] = field(default_factory=list)
