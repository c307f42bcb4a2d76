"""What RFC 7662 introspection and RFC 7009 revocation do with a presented token.

Either kind of token may come to either endpoint: access tokens are JWTs
(verified locally, then the session and account are checked in the
database), refresh tokens are opaque (looked up by their SHA-256). The
``token_type_hint`` only decides which is tried first (RFC 7009 §2.1).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from sqlalchemy import select

from .audit import ClientInfo
from .errors import ApiError
from .models import RefreshToken, Session, User
from .runtime import Runtime
from .session_records import hash_refresh_token

__all__ = ["describe", "revoke"]

_INACTIVE: dict[str, Any] = {"active": False}


def _order(hint: str | None) -> tuple[str, str]:
    if hint == "refresh_token":
        return ("refresh_token", "access_token")
    return ("access_token", "refresh_token")


async def _access(runtime: Runtime, token: str) -> dict[str, Any] | None:
    try:
        claims = await runtime.tokens.authenticate(token)
    except ApiError:
        return None
    async with runtime.db() as db:
        user = await db.get(User, claims.sub)
        session = await db.get(Session, claims.sid)
    if user is None or user.disabled or session is None or session.revoked_at is not None:
        return None
    raw = claims.raw
    answer = {
        "active": True,
        "token_type": "DPoP" if "cnf" in raw else "Bearer",
        "scope": " ".join(claims.roles),
        "client_id": raw.get("client_id", "jotgate"),
        "username": user.username,
        "sub": claims.sub,
        "sid": claims.sid,
        "jti": claims.jti,
        "roles": list(claims.roles),
        "iss": raw["iss"],
        "aud": raw["aud"],
        "iat": raw["iat"],
        "exp": claims.exp,
    }
    if "cnf" in raw:
        # RFC 9449 §6.2: the resource server checks the proof against this.
        answer["cnf"] = raw["cnf"]
    return answer


async def _refresh_row(runtime: Runtime, token: str) -> tuple[RefreshToken, Session, User] | None:
    if len(token) > 512:
        return None
    async with runtime.db() as db:
        row = await db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
        )
        session = await db.get(Session, row.session_id) if row else None
        user = await db.get(User, session.user_id) if session else None
    if row is None or session is None or user is None:
        return None
    return row, session, user


async def _refresh(runtime: Runtime, token: str) -> dict[str, Any] | None:
    found = await _refresh_row(runtime, token)
    if found is None:
        return None
    row, session, user = found
    now = dt.datetime.now(dt.UTC)
    if (
        row.used_at is not None
        or now >= row.expires_at
        or now >= session.expires_at
        or session.revoked_at is not None
        or user.disabled
    ):
        return None
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": " ".join(user.roles),
        "client_id": "jotgate",
        "username": user.username,
        "sub": user.id,
        "sid": session.id,
        "iss": runtime.settings.issuer,
        "iat": int(row.created_at.timestamp()),
        "exp": int(row.expires_at.timestamp()),
    }


async def describe(runtime: Runtime, token: str, hint: str | None) -> dict[str, Any]:
    """The RFC 7662 §2.2 answer: claims of an active token, else only ``active: false``."""
    for kind in _order(hint):
        found = await (_access if kind == "access_token" else _refresh)(runtime, token)
        if found is not None:
            return found
    return dict(_INACTIVE)


async def revoke(runtime: Runtime, token: str, hint: str | None, client: ClientInfo) -> None:
    """End the session the token belongs to; an unknown or invalid token is no error.

    A refresh token ends its session, as RFC 7009 §2.1 asks for the grant's
    access tokens too. An access token ends its session as well: the
    denylist works by session, and a stolen access token is reason enough.
    """
    for kind in _order(hint):
        session_id, user_id = None, None
        if kind == "access_token":
            try:
                claims = await runtime.tokens.session_for_logout(token)
            except ApiError:
                continue
            session_id, user_id = claims.sid, claims.sub
        else:
            found = await _refresh_row(runtime, token)
            if found is None:
                continue
            session_id, user_id = found[1].id, found[2].id
        # ApiError here means the session is gone already: nothing left to revoke.
        with contextlib.suppress(ApiError):
            await runtime.sessions.end(
                session_id, user_id=user_id, reason="revoked", client=client, event="token_revoked"
            )
        return
