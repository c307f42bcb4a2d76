"""Database tables (SQLAlchemy 2 typed declarative), portable across SQLite and PostgreSQL.

The schema itself is created by the Alembic migrations in ``migrations/``;
these classes must stay in step with them (a test compares the two).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "Base",
    "DPoPProof",
    "DenylistEntry",
    "EncryptionKey",
    "KeyRow",
    "LoginThrottle",
    "RefreshToken",
    "RevocationEvent",
    "ServerSecret",
    "Session",
    "SigningKey",
    "User",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, whatever the database keeps.

    SQLite has no time zones, so values are stored as naive UTC there and made
    aware again on the way out; PostgreSQL gets ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every jotgate table."""


class User(Base):
    """An account. ``id`` is the opaque UUID that access tokens carry as ``sub``."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Session(Base):
    """A login: one family of refresh tokens, with an absolute expiry."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The DPoP key (RFC 7638 thumbprint) every refresh of this session must prove.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RefreshToken(Base):
    """One refresh token of a session, kept only as its SHA-256 hash.

    ``used_at`` is set exactly once, by a conditional UPDATE, when the token is
    rotated; ``successor_id`` then names the token that replaced it and
    ``successor_sealed`` holds that successor's plaintext encrypted with a
    server key, only for the reuse grace window (wiped afterwards).
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    #: Indexed: rotation ends the grace of the token whose successor is presented.
    successor_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    successor_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class KeyRow:
    """The columns of a stored key (signing or encryption); the private JWK is
    AES-GCM sealed when SECRET is set."""

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_jwk: Mapped[bytes] = mapped_column(LargeBinary)
    encrypted: Mapped[bool] = mapped_column(Boolean)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: False once a newer key took over (or the key was withdrawn by hand).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    #: When the key starts signing; published (for verifiers' caches) from creation.
    #: NULL for keys made before rotation had a delay: they signed from ``created_at``.
    activates_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SigningKey(KeyRow, Base):
    """A token signing key."""

    __tablename__ = "signing_keys"


class EncryptionKey(KeyRow, Base):
    """An access-token encryption key (``ECDH-ES+A256KW`` EC P-256, or a ``dir`` secret).

    ``alg`` is the JWE key management; ``public_jwk`` is empty for ``dir``.
    Its life is the signing keys' (pending, active, retiring, retired).
    """

    __tablename__ = "encryption_keys"


class ServerSecret(Base):
    """Random server-wide secrets generated once and shared by every process."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DenylistEntry(Base):
    """A revoked session id whose access tokens are refused until ``expires_at``."""

    __tablename__ = "denylist"

    sid: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class AuditEvent(Base):
    """Something security-relevant happened. Never holds secrets or tokens."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)


class LoginThrottle(Base):
    """A failed-login counter (``acct:NAME``, ``ip:ADDR``) or a known-client mark.

    Used only when Redis is not configured; see :mod:`jotgate.server.throttle`.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class RevocationEvent(Base):
    """One revoked session, in revocation order: the feed behind GET /auth/revocations.

    ``id`` is the cursor; rows are written in the revoking transaction under
    a lock on PostgreSQL, so ids become visible in increasing order.
    """

    __tablename__ = "revocation_feed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(36))
    #: No token of the session is valid after this; the row may then be dropped.
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DPoPProof(Base):
    """A DPoP proof already accepted (``<jkt>:<jti>``), refused again until ``expires_at``.

    The replay cache shared by every process when Redis is not configured.
    """

    __tablename__ = "dpop_jti"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
