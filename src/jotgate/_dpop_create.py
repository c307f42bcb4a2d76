"""Making DPoP proofs: the client side of RFC 9449 (see :mod:`jotgate.dpop`).

Example::

    proof = create_proof(key, "GET", "https://api.example.com/notes", access_token=token)
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any, Final

from cryptography.hazmat.primitives import hashes

from . import _b64, _json
from ._claims import numeric_date
from ._dpop_htu import strip_query
from .errors import InvalidKeyError
from .jwk import Key
from .jws import sign_segments, signing_algorithm

__all__ = ["TYP", "access_token_hash", "create_proof"]

TYP: Final = "dpop+jwt"


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url(SHA-256(access token)), RFC 9449 §4.2."""
    if not isinstance(access_token, str):
        raise TypeError("the access token must be a str")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(access_token.encode("utf-8", "surrogatepass"))
    return _b64.encode_str(digest.finalize())


def create_proof(
    key: Key,
    htm: str,
    htu: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    now: float | datetime | None = None,
    jti: str | None = None,
    algorithm: str | None = None,
) -> str:
    """A DPoP proof for one request, signed with the client's private ``key``.

    The header is ``typ: dpop+jwt``, ``alg`` and the key's public ``jwk``
    (its RFC 7638 members only). ``htu`` loses its query and fragment;
    ``jti`` is 128 random bits unless given; ``ath`` is set with ``access_token``.

    Example::

        header_value = dpop.create_proof(key, "POST", "https://as.example.com/token",
                                         nonce=server_nonce)
    """
    if not isinstance(key, Key) or key.is_symmetric or not key.is_private:
        raise InvalidKeyError("a DPoP proof is signed with an asymmetric private key")
    if not isinstance(htm, str) or not htm or not isinstance(htu, str):
        raise TypeError("htm and htu must be non-empty strings")
    alg = signing_algorithm(key, algorithm)
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16) if jti is None else jti,
        "htm": htm,
        "htu": strip_query(htu),
        "iat": int(time.time() if now is None else numeric_date(now)),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    members = key.to_jwk()
    public = {name: members[name] for name in ("kty", "crv", "x", "y", "n", "e") if name in members}
    header = _b64.encode(_json.dumps({"typ": TYP, "alg": alg.name, "jwk": public}))
    return sign_segments(_b64.encode(_json.dumps(claims)), key, alg, header)
