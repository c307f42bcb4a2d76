"""The one place where failures become HTTP answers: ``{"error": CODE, "message": TEXT}``.

Services raise :class:`ApiError` (or a library ``JoseError`` via the token
layer); FastAPI's own validation errors, HTTP errors and anything unexpected
are mapped here too, so no client ever sees a framework-shaped body or a bare
500 for bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "ApiError",
    "describe_errors",
    "error_response",
    "install_error_handlers",
    "invalid_token",
    "is_json_content_type",
    "missing_token",
]

log = logging.getLogger("jotgate.server")

_BEARER_CHALLENGE = 'Bearer error="invalid_token"'


class ApiError(Exception):
    """An answer to the client: status, stable ``code``, human ``message``, extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def invalid_token(code: str, message: str, *, status: int = 401) -> ApiError:
    """A 401 (or the configured expired status) with the RFC 6750 challenge."""
    challenge = f'{_BEARER_CHALLENGE}, error_description="{message}"'
    return ApiError(status, code, message, headers={"WWW-Authenticate": challenge})


def missing_token() -> ApiError:
    """No credentials at all: RFC 6750 §3.1 says the challenge carries no error code."""
    return ApiError(
        401,
        "missing_token",
        "this endpoint needs an access token: Authorization: Bearer <token>",
        headers={"WWW-Authenticate": "Bearer"},
    )


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every failure uses."""
    return JSONResponse(
        {"error": code, "message": message},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def describe_errors(errors: list[Any]) -> str:
    """Up to five validation errors as one line: ``field: what is wrong``."""
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            parts.append(f"{loc}: unexpected field")
        elif kind == "missing":
            parts.append(f"{loc}: field required")
        else:
            parts.append(f"{loc}: {error.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def is_json_content_type(value: str | None) -> bool:
    """``application/json`` or any ``application/*+json``, parameters ignored."""
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    in_body = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)
    form_route = getattr(request.scope.get("route"), "jotgate_form", False)
    if in_body and not form_route and request.method in ("POST", "PUT", "PATCH"):
        body_present = request.headers.get("content-length", "0") != "0" or (
            "transfer-encoding" in request.headers
        )
        content_type = request.headers.get("content-type")
        if body_present and not is_json_content_type(content_type):
            return error_response(
                415, "unsupported_media_type", "send the body as application/json"
            )
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    return error_response(422, "invalid_request", describe_errors(errors))


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a body it cannot decode at all (e.g. invalid UTF-8).
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, detail, exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # A bug or an outage (database down): log it, tell the client nothing internal.
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "server_error", "the server failed; try again later")


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
