"""Verification failures as HTTP answers, in one place for every framework.

Every face of the middleware (ASGI, FastAPI, WSGI, Flask, Django) turns a
failure into an :class:`AuthError` here and renders it the same way: the
status, a JSON body ``{"error": CODE, "message": TEXT}`` and the RFC 6750
``WWW-Authenticate`` challenge. Messages are fixed texts chosen by the
error's class: never the token, never the library's message.

============================  ======  ===================================================
failure                       status  ``WWW-Authenticate``
============================  ======  ===================================================
no credentials                401     ``Bearer`` (RFC 6750 §3.1: no error code)
``ExpiredTokenError``         401*    ``Bearer error="invalid_token", error_description=…``
:class:`TokenRevokedError`    401     ``Bearer error="invalid_token", …``
any other ``JoseError``       401     ``Bearer error="invalid_token", …``
too few roles or scopes       403     ``Bearer error="insufficient_scope", scope="…"``
============================  ======  ===================================================

\\* ``expired_status`` (for example 419, as some Node stacks answer).

Example::

    try:
        claims = verifier.verify(token)
    except errors.JoseError as exc:
        failure = AuthError.from_jose(exc, expired_status=419)
        return failure.status, failure.headers, failure.body
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Final

from jotgate import errors

__all__ = ["AuthError", "TokenRevokedError"]


class TokenRevokedError(errors.JoseError):
    """The token verifies, but its session (``sid``) or id (``jti``) was revoked."""

    code = "token_revoked"


_MESSAGES: Final = {
    "missing_token": "this endpoint needs an access token: Authorization: Bearer <token>",
    "token_expired": "the access token has expired; refresh it",
    "token_revoked": "the access token's session has been logged out",
    "bad_signature": "the access token's signature does not verify",
    "malformed": "the access token is malformed or not accepted here",
}


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        # 419 is not registered; Laravel and some Node stacks call it this.
        return f"{status} Authentication Timeout"


class AuthError(Exception):
    """An authentication or authorization failure, ready to send.

    ``status``, ``code`` (the JSON ``error``), ``message``, and ``headers``
    (a list of (name, value) strings, ``WWW-Authenticate`` included).
    ``body`` is the encoded JSON. The FastAPI dependency raises it wrapped
    in ``TokenRejected`` (an ``HTTPException``); the other faces answer with
    it directly.
    """

    def __init__(self, status: int, code: str, message: str, challenge: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: list[tuple[str, str]] = [
            ("WWW-Authenticate", challenge),
            ("Cache-Control", "no-store"),
            ("Content-Type", "application/json"),
        ]
        self.body = json.dumps({"error": code, "message": message}).encode()

    @property
    def status_line(self) -> str:
        """``"401 Unauthorized"``: what WSGI's ``start_response`` wants."""
        return _status_line(self.status)

    @classmethod
    def missing_token(cls) -> AuthError:
        """401 ``missing_token``: no bearer header or cookie at all."""
        return cls(401, "missing_token", _MESSAGES["missing_token"], "Bearer")

    @classmethod
    def from_jose(cls, exc: errors.JoseError, *, expired_status: int = 401) -> AuthError:
        """The answer for a failed verification; ``expired_status`` applies to expiry only."""
        if isinstance(exc, errors.ExpiredTokenError):
            status, code, message = expired_status, "token_expired", _MESSAGES["token_expired"]
        elif isinstance(exc, TokenRevokedError):
            status, code, message = 401, "token_revoked", _MESSAGES["token_revoked"]
        elif isinstance(exc, errors.ClaimError):
            # The claim name comes from our own checks, never from the token.
            message = f"the access token's {exc.claim} claim is not acceptable"
            status, code = 401, "invalid_token"
        elif isinstance(exc, errors.InvalidSignatureError):
            status, code, message = 401, "invalid_token", _MESSAGES["bad_signature"]
        else:
            status, code, message = 401, "invalid_token", _MESSAGES["malformed"]
        challenge = f'Bearer error="invalid_token", error_description="{message}"'
        return cls(status, code, message, challenge)

    @classmethod
    def insufficient_scope(cls, lacking: Iterable[str]) -> AuthError:
        """403 ``insufficient_scope`` naming what the token lacks (RFC 6750 §3.1)."""
        names = " ".join(lacking)
        message = f"this needs: {names}"
        challenge = f'Bearer error="insufficient_scope", scope="{names}"'
        return cls(403, "insufficient_scope", message, challenge)
