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
:class:`TokenBindingError`    401     ``DPoP error="invalid_token", …, algs="…"``
:class:`ClientBindingError`   401     ``Bearer error="invalid_token", …`` (fgp/bnd)
``dpop.DPoPError``            401     ``DPoP error="invalid_dpop_proof", …, algs="…"``
``dpop.UseDPoPNonceError``    401     ``DPoP error="use_dpop_nonce", …`` + ``DPoP-Nonce``
:class:`DPoPUnavailableError` 503     none (``Retry-After: 1``)
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

from jotgate import dpop, errors

__all__ = [
    "AuthError",
    "ClientBindingError",
    "DPoPUnavailableError",
    "TokenBindingError",
    "TokenRevokedError",
]


class TokenRevokedError(errors.JoseError):
    """The token verifies, but its session (``sid``) or id (``jti``) was revoked."""

    code = "token_revoked"


class TokenBindingError(errors.JoseError):
    """The token's DPoP binding does not fit its scheme (bound as Bearer, or unbound as DPoP).

    Messages are fixed texts written here, so they may be sent to the client.
    """

    code = "invalid_token"


class ClientBindingError(errors.JoseError):
    """The token is bound (``fgp``/``bnd``) to a client this request does not come from.

    Missing or wrong fingerprint cookie, another address or user agent, or no
    request context to check against. Messages are fixed texts written in
    :mod:`jotgate.middleware.client_binding`, so they may be sent to the client.
    """

    code = "invalid_token"


class DPoPUnavailableError(errors.JoseError):
    """The DPoP replay cache could not answer (full, or its store is down): 503, retry."""

    code = "temporarily_unavailable"


_MESSAGES: Final = {
    "missing_token": "this endpoint needs an access token: Authorization: Bearer <token>",
    "token_expired": "the access token has expired; refresh it",
    "token_revoked": "the access token's session has been logged out",
    "bad_signature": "the access token's signature does not verify",
    "malformed": "the access token is malformed or not accepted here",
    "use_dpop_nonce": "the resource server requires a DPoP nonce: retry with the DPoP-Nonce given",
    "unavailable": "the DPoP replay check is unavailable; retry shortly",
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

    def __init__(self, status: int, code: str, message: str, challenge: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: list[tuple[str, str]] = (
            [] if challenge is None else [("WWW-Authenticate", challenge)]
        )
        self.headers += [("Cache-Control", "no-store"), ("Content-Type", "application/json")]
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
    def from_jose(
        cls,
        exc: errors.JoseError,
        *,
        expired_status: int = 401,
        dpop_algorithms: Iterable[str] = dpop.DEFAULT_ALGORITHMS,
        dpop_nonce: str | None = None,
    ) -> AuthError:
        """The answer for a failed verification; ``expired_status`` applies to expiry only.

        DPoP failures answer with the ``DPoP`` challenge naming
        ``dpop_algorithms``; ``dpop_nonce`` goes out as ``DPoP-Nonce`` with
        ``use_dpop_nonce`` (``Verifier.failure`` fills both in).
        """
        if isinstance(exc, dpop.DPoPError | TokenBindingError | DPoPUnavailableError):
            return cls._dpop_failure(exc, " ".join(dpop_algorithms), dpop_nonce)
        if isinstance(exc, errors.ExpiredTokenError):
            status, code, message = expired_status, "token_expired", _MESSAGES["token_expired"]
        elif isinstance(exc, TokenRevokedError):
            status, code, message = 401, "token_revoked", _MESSAGES["token_revoked"]
        elif isinstance(exc, ClientBindingError):
            status, code, message = 401, "invalid_token", str(exc)
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
    def _dpop_failure(cls, exc: errors.JoseError, algs: str, nonce: str | None) -> AuthError:
        if isinstance(exc, DPoPUnavailableError):
            failure = cls(503, exc.code, _MESSAGES["unavailable"], None)
            failure.headers.append(("Retry-After", "1"))
            return failure
        if isinstance(exc, TokenBindingError):
            code, message = "invalid_token", str(exc)
        elif isinstance(exc, dpop.UseDPoPNonceError):
            code, message = "use_dpop_nonce", _MESSAGES["use_dpop_nonce"]
        else:
            # The reason is one fixed word of the library's; its message is not sent.
            reason = getattr(exc, "reason", "invalid")
            code, message = "invalid_dpop_proof", f"the DPoP proof was refused ({reason})"
        challenge = f'DPoP error="{code}", error_description="{message}", algs="{algs}"'
        failure = cls(401, code, message, challenge)
        if code == "use_dpop_nonce" and nonce is not None:
            failure.headers.append(("DPoP-Nonce", nonce))
        return failure

    @classmethod
    def insufficient_scope(cls, lacking: Iterable[str]) -> AuthError:
        """403 ``insufficient_scope`` naming what the token lacks (RFC 6750 §3.1)."""
        names = " ".join(lacking)
        message = f"this needs: {names}"
        challenge = f'Bearer error="insufficient_scope", scope="{names}"'
        return cls(403, "insufficient_scope", message, challenge)
