"""Login, refresh, logout: the token flow's endpoints."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError
from starlette.routing import BaseRoute, Route

from ..bindings import new_binding
from ..deps import Authenticated, RuntimeDep
from ..errors import (
    ApiError,
    describe_errors,
    error_response,
    is_json_content_type,
    missing_token,
)
from ..runtime import Runtime
from ..schemas import Credentials, ErrorBody, LogoutRequest, RefreshRequest, TokenResponse
from ..tokens import AccessClaims
from ..transport import (
    access_token_from,
    check_csrf,
    clear_cookies,
    client_info,
    refresh_token_from,
    token_json_response,
    token_response,
)

router = APIRouter(prefix="/auth", tags=["tokens"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody},
    401: {"model": ErrorBody},
    422: {"model": ErrorBody},
    429: {"model": ErrorBody},
}


@router.post("/login", response_model=TokenResponse, responses=_ERRORS)
async def login(
    body: Credentials, request: Request, response: Response, runtime: RuntimeDep
) -> TokenResponse:
    """Check username and password; start a session; answer with a token pair.

    Repeated failures are slowed down: 429 ``too_many_attempts`` with ``Retry-After``.
    With a ``DPoP`` proof the tokens are bound to its key (``token_type: DPoP``).
    """
    client = client_info(request)
    jkt = await runtime.dpop.token_request_jkt(request)
    user = await runtime.logins.password_login(body.username, body.password, client=client)
    binding = new_binding(runtime.settings, client, cookies=True, jkt=jkt)
    pair = await runtime.sessions.start(user, client=client, binding=binding)
    response.headers.update(runtime.dpop.nonce_headers())
    return token_response(pair, response, runtime.settings, runtime.csrf_key)


async def _refresh(request: Request, runtime: Runtime, body_token: str | None) -> Response:
    """The refresh itself, for both routes below."""
    settings = runtime.settings
    token = refresh_token_from(request, settings, body_token)
    if token is None:
        raise ApiError(400, "invalid_request", 'send {"refresh_token": "..."}')
    presented = access_token_from(request, settings)
    if token.from_cookie or (presented is not None and presented.from_cookie):
        session = await runtime.sessions.session_of_refresh_token(token.token)
        if session is None:
            raise ApiError(401, "invalid_refresh_token", "this refresh token is not valid")
        check_csrf(request, runtime.csrf_key, session.id)
    client = client_info(request)
    jkt = await runtime.dpop.token_request_jkt(request)
    pair = await runtime.sessions.refresh(
        token.token,
        access_token=presented.token if presented else None,
        client=client,
        binding=new_binding(settings, client, cookies=True, jkt=jkt),
    )
    return token_json_response(pair, settings, runtime.csrf_key, runtime.dpop.nonce_headers())


async def _refresh_body(request: Request) -> str | None:
    """The JSON body's ``refresh_token``, judged exactly as FastAPI judges ``RefreshRequest``.

    No body (or ``null``) is no token; a body not labelled JSON is 415, one
    that is not JSON 400 ``malformed_json``, one that breaks the schema 422.
    """
    raw = await request.body()
    if not raw:
        return None
    # Strict like FastAPI's default: no Content-Type is not JSON either.
    if not is_json_content_type(request.headers.get("content-type")):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None
    if data is None:
        return None
    try:
        # from_attributes as FastAPI validates bodies (it words the errors the same way).
        return RefreshRequest.model_validate(data, from_attributes=True).refresh_token
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", describe_errors(list(exc.errors()))) from None


async def refresh_endpoint(request: Request) -> Response:
    """POST /auth/refresh as a plain Starlette endpoint (see :func:`plain_routes`)."""
    try:
        return await _refresh(request, request.app.state.runtime, await _refresh_body(request))
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)


def plain_routes() -> list[BaseRoute]:
    """POST /auth/refresh without FastAPI's per-request machinery; mount before the API routes.

    Refresh is the busiest write: dependency solving, body validation through
    FastAPI and response-model serialisation cost as much as the rest of
    the endpoint's Python. The FastAPI route below declares the endpoint for
    the OpenAPI document and answers the same way should it ever be reached.
    """
    return [Route("/auth/refresh", refresh_endpoint, methods=["POST"], include_in_schema=False)]


@router.post("/refresh", response_model=TokenResponse, responses=_ERRORS)
async def refresh(
    request: Request,
    runtime: RuntimeDep,
    body: RefreshRequest | None = None,
) -> Response:
    """Trade a refresh token for a new pair (rotation; reuse after the grace window revokes).

    Send the still-valid access token in ``Authorization`` too, and an
    idle-expired refresh token of the same session is still honoured. A
    DPoP-bound session needs a proof by its key; the fingerprint rotates.
    With a cookie (refresh or access), ``X-CSRF-Token`` must be the CSRF
    value of the refresh token's session, checked before anything rotates.
    """
    return await _refresh(request, runtime, body.refresh_token if body else None)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def logout(
    request: Request,
    runtime: RuntimeDep,
    body: LogoutRequest | None = None,
) -> Response:
    """End this session: its refresh tokens die and its access tokens are denied.

    Identified by the access token (even an expired one) or the refresh token.
    In cookie mode that is the access cookie (it outlives the token, see
    :mod:`..transport`), with ``X-CSRF-Token`` bound to its session.
    """
    settings = runtime.settings
    claims: AccessClaims | None = None
    presented = access_token_from(request, settings)
    if presented is not None:
        claims = await runtime.tokens.session_for_logout(presented.token)
        session_id, user_id = claims.sid, claims.sub
        if presented.from_cookie:
            check_csrf(request, runtime.csrf_key, session_id)
    else:
        token = refresh_token_from(request, settings, body.refresh_token if body else None)
        if token is None:
            raise missing_token()
        session = await runtime.sessions.session_of_refresh_token(token.token)
        if session is None:
            raise ApiError(401, "invalid_refresh_token", "this refresh token is not valid")
        session_id, user_id = session.id, session.user_id
        if token.from_cookie:
            check_csrf(request, runtime.csrf_key, session_id)
    await runtime.sessions.end(
        session_id, user_id=user_id, reason="logout", client=client_info(request)
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_cookies(response, settings)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def logout_all(request: Request, claims: Authenticated, runtime: RuntimeDep) -> Response:
    """End every session of the caller, on every device."""
    await runtime.sessions.end_all(claims.sub, client=client_info(request))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_cookies(response, runtime.settings)
    return response
