"""Request and response bodies. Requests are strict: no extra fields, no type coercion.

Lengths are capped here only loosely (so that absurd inputs fail fast); the
real policies (username form, password rules) live in the services and give
their own error codes.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, StrictStr

__all__ = [
    "Credentials",
    "ErrorBody",
    "LogoutRequest",
    "PasswordChange",
    "RefreshRequest",
    "SessionInfo",
    "TokenResponse",
    "UserInfo",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Credentials(_Strict):
    """``{username, password}`` for register and login."""

    username: StrictStr = Field(max_length=256)
    password: StrictStr = Field(max_length=4096)


class RefreshRequest(_Strict):
    """``{refresh_token}``; may be omitted in cookie transport (the cookie carries it)."""

    refresh_token: StrictStr | None = Field(default=None, max_length=512)


class LogoutRequest(_Strict):
    """Optional ``{refresh_token}`` naming the session to end."""

    refresh_token: StrictStr | None = Field(default=None, max_length=512)


class PasswordChange(_Strict):
    """``{current_password, new_password}``."""

    current_password: StrictStr = Field(max_length=4096)
    new_password: StrictStr = Field(max_length=4096)


class TokenResponse(BaseModel):
    """The token response of DESIGN.md (tokens omitted in cookie-only transport)."""

    access_token: str | None = None
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int


class UserInfo(BaseModel):
    """The account behind an access token, read from the database."""

    id: str
    username: str
    roles: list[str]
    created_at: dt.datetime
    session_id: str | None = None


class RegisteredUser(BaseModel):
    """The answer to a registration."""

    id: str
    username: str


class SessionInfo(BaseModel):
    """One of the user's live sessions."""

    id: str
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    user_agent: str | None
    ip: str | None
    current: bool


class ErrorBody(BaseModel):
    """Every error: a stable code and a human message."""

    error: str
    message: str
