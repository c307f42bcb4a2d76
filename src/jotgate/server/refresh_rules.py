"""What a refresh decides, apart from how it reaches the database.

Both ways of rotating (the SQLite writer thread, :mod:`.refresh_sqlite`, and
SQLAlchemy Core on any database, :mod:`.sessions`) read the same columns into
a :class:`Found` and ask :func:`judge` the same question, so the rules of
DESIGN.md live once: which refresh tokens are refused and with what code,
which rotate, and which were used before (the grace-window replay or theft,
always handled by :mod:`.sessions`).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any, Final

from .errors import ApiError, invalid_token

__all__ = [
    "USED_BEFORE",
    "Family",
    "Found",
    "Holder",
    "LostRace",
    "Plan",
    "Rotated",
    "Successor",
    "UsedBefore",
    "judge",
    "rotation_of",
]


@dataclass(frozen=True, slots=True)
class Found:
    """A refresh token with its session and user (outer joins: either may be gone)."""

    id: str
    expires_at: dt.datetime
    used_at: dt.datetime | None
    sid: str | None
    session_expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    dpop_jkt: str | None
    uid: str | None
    roles: list[str]
    disabled: bool


@dataclass(frozen=True, slots=True)
class Holder:
    """The user columns a refresh needs."""

    id: str
    roles: list[str]


@dataclass(frozen=True, slots=True)
class Family:
    """The session columns a refresh needs."""

    id: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Successor:
    """The token that replaces the presented one, made before the transaction."""

    id: str
    plain: str
    token_hash: str
    #: Its plaintext sealed for the reuse grace window (None: no grace configured).
    sealed: bytes | None


@dataclass(frozen=True, slots=True)
class Rotated:
    """A rotation committed; its access token is signed after the commit."""

    user: Holder
    session: Family
    plain: str
    expires_at: dt.datetime
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """A rotation's inputs that do not depend on the stored rows, made before it runs.

    Built on the event loop, so the database side (a writer thread holding
    SQLite's write lock, or a PostgreSQL transaction) does as little as it can.
    """

    token_hash: str
    now: dt.datetime
    access_sid: str | None
    proof_jkt: str | None
    successor: Successor
    #: The successor's idle expiry; it is capped by the session's absolute one.
    idle_expiry: dt.datetime
    #: The ``refresh`` audit row (``user_id`` and ``session_id`` filled in later).
    audit: dict[str, Any]

    @property
    def ip(self) -> str | None:
        """The client's address, as the session's last-seen address (None: keep it)."""
        ip: str | None = self.audit["ip"]
        return ip or None

    def expiry(self, session_expires_at: dt.datetime) -> dt.datetime:
        """The successor's expiry: idle, never past the session's cap."""
        return min(self.idle_expiry, session_expires_at)


class UsedBefore:
    """The token was rotated already: the caller replays or revokes (see :mod:`.sessions`)."""

    __slots__ = ()


#: The one :class:`UsedBefore`.
USED_BEFORE: Final = UsedBefore()


class LostRace(Exception):
    """Another transaction rotated the token between our read and our update."""


def _refresh_error(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


def _check_dpop_key(session_jkt: str | None, proof_jkt: str | None) -> None:
    """A DPoP-bound session refreshes only with a proof by its own key (RFC 9449 §5)."""
    if session_jkt is None:
        return
    if proof_jkt is None:
        raise ApiError(
            400, "invalid_dpop_proof", "this session is bound to a DPoP key: send a DPoP proof"
        )
    if not hmac.compare_digest(proof_jkt.encode(), session_jkt.encode()):
        raise ApiError(400, "invalid_dpop_proof", "the DPoP proof is by another key")


def judge(
    found: Found | None, *, now: dt.datetime, access_sid: str | None, proof_jkt: str | None
) -> bool:
    """True: rotate ``found``; False: it was used before (replay or theft). Else raises.

    ``access_sid``: the session of a still-valid access token sent along, which
    lets an idle-expired refresh token of that session rotate anyway (never
    past the session's absolute cap). ``proof_jkt``: the DPoP proof's key.
    """
    if found is None:
        raise _refresh_error("invalid_refresh_token", "this refresh token is not valid")
    if found.sid is None or found.uid is None or found.revoked_at is not None:
        raise invalid_token("token_revoked", "this session has ended; log in again")
    if found.disabled:
        raise invalid_token("token_revoked", "this account is disabled")
    if found.session_expires_at is None or now >= found.session_expires_at:
        raise _refresh_error(
            "session_expired", "this session reached its maximum age; log in again"
        )
    _check_dpop_key(found.dpop_jkt, proof_jkt)
    if found.used_at is not None:
        return False
    if now >= found.expires_at and access_sid != found.sid:
        raise _refresh_error(
            "refresh_token_expired", "this refresh token has expired; log in again"
        )
    return True


def rotation_of(found: Found, plan: Plan) -> Rotated:
    """What rotating ``found`` (which :func:`judge` let rotate) by ``plan`` yields.

    Every backend builds its writes from it (session, user, the successor's
    expiry) and returns it once they are committed.
    """
    # judge() refused tokens without a live session or user.
    assert found.sid is not None
    assert found.uid is not None
    assert found.session_expires_at is not None
    return Rotated(
        user=Holder(found.uid, found.roles),
        session=Family(found.sid, found.session_expires_at),
        plain=plan.successor.plain,
        expires_at=plan.expiry(found.session_expires_at),
        now=plan.now,
    )
