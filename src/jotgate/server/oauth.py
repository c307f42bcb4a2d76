"""The OAuth 2.0 side of the server: form bodies, client credentials, OAuth-shaped errors.

/auth/token, /auth/introspect and /auth/revoke speak OAuth (RFC 6749, 7662,
7009): form-encoded requests, and errors as ``{"error", "error_description"}``
(RFC 6749 §5.2). Every error also carries ``message`` (the same text) so
that the rule "every error has ``error`` and ``message``" still holds for
clients written against the rest of the API.

Clients: the token endpoint serves public clients (``client_id`` optional
and not checked, as for a first-party app or the /docs page). A client that
authenticates anyway — HTTP Basic or ``client_secret`` in the body, never
both (RFC 6749 §2.3) — must be one of ``INTROSPECTION_CLIENTS``, or it gets
401 ``invalid_client``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote_plus

from fastapi import Request
from fastapi.responses import JSONResponse

from .errors import ApiError
from .request_auth import authenticate_request
from .runtime import Runtime
from .settings import Settings
from .tokens import require_role

__all__ = [
    "BASIC_CHALLENGE",
    "OAuthError",
    "authenticate_service",
    "authenticated_client",
    "form_body_schema",
    "oauth_error_response",
    "read_form",
    "to_oauth_error",
]

BASIC_CHALLENGE: Final = 'Basic realm="jotgate", charset="UTF-8"'
_FORM: Final = "application/x-www-form-urlencoded"
_MAX_FIELDS: Final = 32
_MAX_VALUE: Final = 8192
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: status, ``error`` code, description, extra headers."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    """``{"error", "error_description", "message"}`` with ``no-store``."""
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description, "message": exc.description},
        status_code=exc.status,
        headers={**NO_STORE, **exc.headers},
    )


# What the JSON API's codes mean to an OAuth client (RFC 6749 §5.2).
_GRANT_ERRORS: Final = frozenset(
    {
        "invalid_credentials",
        "invalid_refresh_token",
        "refresh_token_expired",
        "session_expired",
        "token_revoked",
    }
)


def to_oauth_error(exc: ApiError) -> OAuthError:
    """Translate a service's :class:`ApiError` for an OAuth endpoint."""
    if exc.code in _GRANT_ERRORS:
        return OAuthError("invalid_grant", exc.message)
    if exc.code in ("invalid_dpop_proof", "use_dpop_nonce"):
        # RFC 9449 §5 and §8: the token endpoint answers these in OAuth shape, 400.
        return OAuthError(exc.code, exc.message, status=exc.status, headers=exc.headers)
    if exc.status == 503:
        return OAuthError("temporarily_unavailable", exc.message, status=503)
    if exc.status in (401, 403, 429):
        # Throttling and bearer-token failures keep their code, status and
        # challenge headers (RFC 6750 §3 for the bearer case).
        return OAuthError(exc.code, exc.message, status=exc.status, headers=exc.headers)
    return OAuthError("invalid_request", exc.message)


async def read_form(request: Request) -> dict[str, str]:
    """The form parameters (RFC 6749 §3.1: empty means absent, unknown ones ignored).

    ``invalid_request`` for another media type, bad encoding, or a repeated
    parameter (RFC 6749 §3.2 forbids repeats).
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != _FORM:
        raise OAuthError("invalid_request", f"send the parameters as {_FORM}")
    body = await request.body()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form body is not valid") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"the {name} parameter is given more than once")
        if len(value) > _MAX_VALUE:
            raise OAuthError("invalid_request", f"the {name} parameter is too long")
        form[name] = value
    return {name: value for name, value in form.items() if value}


@dataclass(frozen=True)
class Client:
    """A client that proved its identity with a configured secret."""

    client_id: str


def _secret_matches(settings: Settings, client_id: str, secret: str) -> bool:
    expected = dict(settings.introspection_clients).get(client_id)
    # Hashing first makes the comparison constant-time whatever the lengths,
    # and an unknown client costs the same as a wrong secret.
    want = hashlib.sha256((expected or "\0unknown").encode()).digest()
    got = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(want, got) and expected is not None


def _invalid_client(basic: bool) -> OAuthError:
    headers = {"WWW-Authenticate": BASIC_CHALLENGE} if basic else {}
    return OAuthError("invalid_client", "client authentication failed", status=401, headers=headers)


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client(True) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client(True)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def authenticated_client(
    request: Request, form: Mapping[str, str], settings: Settings
) -> Client | None:
    """The client that authenticated (Basic or body secret), None if none tried.

    401 ``invalid_client`` for wrong credentials; 400 when two methods are used.
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    basic = scheme.lower() == "basic"
    if basic and "client_secret" in form:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    if basic:
        client_id, secret = _basic_credentials(value)
    elif "client_secret" in form:
        client_id, secret = form.get("client_id", ""), form["client_secret"]
    else:
        return None
    if not client_id or not _secret_matches(settings, client_id, secret):
        raise _invalid_client(basic)
    return Client(client_id)


async def authenticate_service(request: Request, runtime: Runtime, form: Mapping[str, str]) -> None:
    """Admit a service caller (introspection, the revocation feed), or raise.

    HTTP Basic (or body) credentials of a client in ``INTROSPECTION_CLIENTS``,
    or a bearer access token carrying the ``introspect`` role. Bearer failures
    raise the usual :class:`ApiError` (RFC 6750 401/403), the rest 401
    ``invalid_client``.
    """
    if authenticated_client(request, form, runtime.settings) is not None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("bearer", "dpop") and value.strip():
        claims = await authenticate_request(request, runtime)
        require_role(claims, "introspect")
        return
    raise OAuthError(
        "invalid_client",
        "authenticate with HTTP Basic client credentials or a bearer token "
        "with the introspect role",
        status=401,
        headers={"WWW-Authenticate": f'{BASIC_CHALLENGE}, Bearer realm="jotgate"'},
    )


def form_body_schema(
    properties: Mapping[str, Mapping[str, object]], required: list[str]
) -> dict[str, object]:
    """``openapi_extra`` declaring a form body, so /docs and generated clients know it."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "properties": dict(properties),
                        "required": required,
                    }
                }
            },
        }
    }
