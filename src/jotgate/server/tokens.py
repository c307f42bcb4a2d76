"""Access tokens: issue them (``typ: at+jwt``, RFC 9068 shape) and verify them.

Verification is local (signature and claims, no database), then the session
denylist is consulted so a logged-out session's tokens stop at once. Library
errors become the server's three codes: ``token_expired``, ``token_revoked``,
``invalid_token``. With ``ACCESS_TOKEN_ENCRYPTION`` on, tokens are signed
and then encrypted (:mod:`.token_encryption`), and only such tokens pass.

Verified tokens are cached per process, keyed by the whole token string
(at most :data:`VERIFIED_CACHE_LIMIT`): a hit skips decryption and the
signature check only. Every hit still checks ``exp`` and the denylist, and
an entry counts only while the key set it was verified with is the current
one (a key reload or state change empties it in effect). Bindings (DPoP
proofs, fingerprint cookie, address) are per request and never cached:
:mod:`.request_auth` checks them after this on every request.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from jotgate import errors, jwt

from .denylist import Denylist
from .errors import ApiError, invalid_token
from .keystore import KeyStore, LoadedKeys
from .settings import Settings
from .token_encryption import CONTENT_ENCRYPTION, EncryptionKeys

__all__ = ["AccessClaims", "TokenService", "new_refresh_token"]

ACCESS_TYP: Final = "at+jwt"
_REQUIRED: Final = ("iss", "sub", "aud", "exp", "iat", "jti", "sid")
#: Verified access tokens remembered per process (oldest dropped first).
VERIFIED_CACHE_LIMIT: Final = 10_000


#: Bytes of OS randomness in a refresh token (256 bits).
REFRESH_TOKEN_BYTES: Final = 32


def new_refresh_token(entropy: bytes | None = None) -> str:
    """An opaque refresh token: 256 bits from the OS CSPRNG, base64url without padding.

    ``entropy``: exactly :data:`REFRESH_TOKEN_BYTES` bytes the caller already
    drew from ``os.urandom`` (one draw for several values saves the GIL
    round trips of several calls).
    """
    if entropy is None:
        return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    if len(entropy) != REFRESH_TOKEN_BYTES:
        raise ValueError("a refresh token takes 32 bytes of randomness")
    return base64.urlsafe_b64encode(entropy).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class AccessClaims:
    """The verified claims of an access token that routes rely on."""

    sub: str
    sid: str
    jti: str
    exp: int
    roles: tuple[str, ...]
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed decryption, signature and claims with these key snapshots."""

    claims: AccessClaims
    keys: LoadedKeys
    decrypt: LoadedKeys | None


class TokenService:
    """Signs and verifies access tokens with the key store's current keys."""

    def __init__(
        self,
        settings: Settings,
        keys: KeyStore,
        denylist: Denylist,
        encryption: EncryptionKeys | None = None,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._denylist = denylist
        self._encryption = encryption
        self._verified: dict[str, _Verified] = {}

    async def warm(self) -> None:
        """Bring the key caches up to date now, outside any transaction.

        Callers that sign inside a write transaction call this first: a
        reload there would open a second connection, which on SQLite waits
        for the first one's write lock until ``busy_timeout``.
        """
        await self._keys.current()
        if self._encryption is not None:
            await self._encryption.current()

    async def issue_access(
        self,
        *,
        user_id: str,
        session_id: str,
        roles: list[str],
        now: dt.datetime,
        not_after: dt.datetime,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A signed (maybe encrypted) access token and its lifetime, never past ``not_after``.

        ``extra``: binding claims (``cnf``, ``fgp``, ``bnd``) added as given.
        """
        loaded = await self._keys.current()
        iat = int(now.timestamp())
        exp = min(iat + self._settings.access_token_ttl, int(not_after.timestamp()))
        claims = {
            "iss": self._settings.issuer,
            "sub": user_id,
            "aud": self._settings.audience,
            "exp": exp,
            "iat": iat,
            "jti": uuid.uuid4().hex,
            "sid": session_id,
            "roles": list(roles),
            # RFC 9068 names the client; this server is its own only client.
            "client_id": "jotgate",
            **(extra or {}),
        }
        # No extra headers: the key's own kid goes into the header anyway, and
        # without extras the library reuses the encoded header (per key and typ).
        if self._encryption is None:
            token = jwt.encode(
                claims,
                loaded.signing,
                algorithm=loaded.signing.alg,
                typ=ACCESS_TYP,
            )
        else:
            recipient = (await self._encryption.current()).signing
            token = jwt.encode(
                claims,
                loaded.signing,
                algorithm=loaded.signing.alg,
                typ=ACCESS_TYP,
                # ECDH-ES needs only the public half; a dir secret is itself the key.
                encrypt_to=recipient if recipient.is_symmetric else recipient.public_key(),
                key_management=self._encryption.alg,
                encryption=CONTENT_ENCRYPTION,
            )
        return token, max(0, exp - iat)

    def decode(
        self,
        token: str,
        keys: Any,
        algorithms: tuple[str, ...],
        *,
        leeway: int = 0,
        decrypt: LoadedKeys | None = None,
    ) -> dict[str, Any]:
        """Signature and claim checks only (no denylist); decryption first when configured."""
        if decrypt is None or self._encryption is None:
            return jwt.decode(
                token,
                keys,
                algorithms=list(algorithms),
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                required=_REQUIRED,
                typ=ACCESS_TYP,
                leeway=leeway,
            )
        return jwt.decode(
            token,
            keys,
            algorithms=list(algorithms),
            issuer=self._settings.issuer,
            audience=self._settings.audience,
            required=_REQUIRED,
            typ=ACCESS_TYP,
            leeway=leeway,
            decrypt_with=decrypt.verifying,
            decrypt_algorithms=[self._encryption.alg],
            encryptions=[CONTENT_ENCRYPTION],
        )

    async def verify_signature_and_claims(self, token: str, *, leeway: int = 0) -> dict[str, Any]:
        """Verified claims, or the library error (after one reload on an unknown kid)."""
        claims, _keys, _decrypt = await self._verify(token, leeway=leeway)
        return claims

    async def _verify(
        self, token: str, *, leeway: int = 0
    ) -> tuple[dict[str, Any], LoadedKeys, LoadedKeys | None]:
        """Claims and the key snapshots (signature, decryption) that verified them."""
        loaded = await self._keys.current()
        decrypt = await self._encryption.current() if self._encryption else None
        try:
            claims = self.decode(
                token, loaded.verifying, loaded.algorithms, leeway=leeway, decrypt=decrypt
            )
            return claims, loaded, decrypt
        except errors.KeyNotFoundError:
            reloaded = await self._keys.after_unknown_kid()
            if reloaded is None:
                raise
            claims = self.decode(
                token, reloaded.verifying, reloaded.algorithms, leeway=leeway, decrypt=decrypt
            )
            return claims, reloaded, decrypt
        except errors.DecryptionError:
            # Maybe encrypted to a key another process rotated in; reload once.
            fresh = await self._encryption.after_unknown_kid() if self._encryption else None
            if fresh is None:
                raise
            claims = self.decode(
                token, loaded.verifying, loaded.algorithms, leeway=leeway, decrypt=fresh
            )
            return claims, loaded, fresh

    async def session_for_logout(self, token: str) -> AccessClaims:
        """Claims of a genuine access token, expired or not: logging out must always work.

        The leeway spans a whole session, so any token this server signed for a
        session that could still exist is accepted; the signature is still checked.
        """
        try:
            claims = await self.verify_signature_and_claims(
                token, leeway=self._settings.session_max_age
            )
        except errors.JoseError as exc:
            raise invalid_token("invalid_token", _describe(exc)) from None
        return _parse(claims)

    async def authenticate(self, token: str) -> AccessClaims:
        """Verify ``token`` fully, denylist included, or raise the right :class:`ApiError`."""
        parsed = await self._cached(token)
        if parsed is None:
            try:
                claims, keys, decrypt = await self._verify(token)
            except errors.ExpiredTokenError:
                raise invalid_token(
                    "token_expired",
                    "the access token has expired; refresh it",
                    status=self._settings.expired_status,
                ) from None
            except errors.JoseError as exc:
                raise invalid_token("invalid_token", _describe(exc)) from None
            parsed = _parse(claims)
            self._remember(token, _Verified(parsed, keys, decrypt))
        if await self._denylist.is_revoked(parsed.sid):
            raise invalid_token("token_revoked", "this session has been logged out")
        return parsed

    async def _cached(self, token: str) -> AccessClaims | None:
        """The claims of a token verified before with today's keys and not yet expired."""
        entry = self._verified.get(token)
        if entry is None:
            return None
        keys = await self._keys.current()
        decrypt = await self._encryption.current() if self._encryption else None
        if entry.keys is keys and entry.decrypt is decrypt and time.time() < entry.claims.exp:
            return entry.claims
        # Expired (the full path says so) or other keys now: verify again.
        self._verified.pop(token, None)
        return None

    def _remember(self, token: str, entry: _Verified) -> None:
        if len(self._verified) >= VERIFIED_CACHE_LIMIT:
            # Oldest first (dicts keep insertion order).
            del self._verified[next(iter(self._verified))]
        self._verified[token] = entry

    def expired_status(self) -> int:
        """The status answered for expired access tokens (401, or 419 if configured)."""
        return self._settings.expired_status


def _describe(exc: errors.JoseError) -> str:
    # Fixed texts: the library's messages are safe, but a stable answer leaks less.
    if isinstance(exc, errors.ClaimError):
        return f"the access token's {exc.claim} claim is not acceptable"
    if isinstance(exc, errors.InvalidSignatureError):
        return "the access token's signature does not verify"
    return "the access token is malformed or not accepted"


def _parse(claims: dict[str, Any]) -> AccessClaims:
    sub, sid, jti, exp = claims["sub"], claims["sid"], claims["jti"], claims["exp"]
    roles = claims.get("roles", [])
    if (
        not isinstance(sub, str)
        or not isinstance(sid, str)
        or not isinstance(jti, str)
        or not isinstance(roles, list)
        or not all(isinstance(r, str) for r in roles)
    ):
        raise invalid_token("invalid_token", "the access token's claims have the wrong types")
    return AccessClaims(sub=sub, sid=sid, jti=jti, exp=int(exp), roles=tuple(roles), raw=claims)


def require_role(claims: AccessClaims, role: str) -> None:
    """403 ``insufficient_scope`` unless the token carries ``role``."""
    if role not in claims.roles:
        raise ApiError(
            403,
            "insufficient_scope",
            f"this needs the {role!r} role",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{role}"'},
        )
