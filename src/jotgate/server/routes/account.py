"""Accounts: register, who am I, change password, list and end own sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from ..bindings import new_binding
from ..deps import Authenticated, RuntimeDep
from ..dpop_server import bound_jkt
from ..errors import ApiError, invalid_token
from ..schemas import (
    Credentials,
    ErrorBody,
    PasswordChange,
    RegisteredUser,
    SessionInfo,
    TokenResponse,
    UserInfo,
)
from ..transport import client_info, token_response

router = APIRouter(prefix="/auth", tags=["account"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody},
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
    429: {"model": ErrorBody},
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredUser,
    responses=_ERRORS,
)
async def register(body: Credentials, request: Request, runtime: RuntimeDep) -> RegisteredUser:
    """Create an account (403 ``registration_closed`` when registration is closed)."""
    if runtime.settings.registration == "closed":
        raise ApiError(403, "registration_closed", "registration is closed on this server")
    user = await runtime.users.register(body.username, body.password, client=client_info(request))
    return RegisteredUser(id=user.id, username=user.username)


@router.get("/me", response_model=UserInfo, responses=_ERRORS)
async def me(claims: Authenticated, runtime: RuntimeDep) -> UserInfo:
    """The account behind the access token, read fresh from the database."""
    user = await runtime.users.get(claims.sub)
    if user is None or user.disabled:
        raise invalid_token("token_revoked", "this account no longer exists or is disabled")
    return UserInfo(
        id=user.id,
        username=user.username,
        roles=list(user.roles),
        created_at=user.created_at,
        session_id=claims.sid,
    )


@router.post("/password", response_model=TokenResponse, responses=_ERRORS)
async def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    claims: Authenticated,
    runtime: RuntimeDep,
) -> TokenResponse:
    """Change the password; every session ends, and a fresh one is returned.

    Wrong current passwords count like failed logins: 429 ``too_many_attempts``.
    """
    client = client_info(request)
    user = await runtime.logins.change_password(
        claims.sub, body.current_password, body.new_password, client=client
    )
    # The new session is bound like the one that asked: the same DPoP key
    # (this request was proved by it), a fresh fingerprint.
    jkt = bound_jkt(claims.raw)
    binding = new_binding(runtime.settings, client, cookies=True, jkt=jkt)
    pair = await runtime.sessions.start(user, client=client, binding=binding)
    return token_response(pair, response, runtime.settings, runtime.csrf_key)


@router.get("/sessions", response_model=list[SessionInfo], responses=_ERRORS)
async def list_sessions(claims: Authenticated, runtime: RuntimeDep) -> list[SessionInfo]:
    """The caller's live sessions, newest first; ``current`` marks this one."""
    sessions = await runtime.sessions.list_live(claims.sub)
    return [
        SessionInfo(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            expires_at=s.expires_at,
            user_agent=s.user_agent,
            ip=s.ip,
            current=s.id == claims.sid,
        )
        for s in sessions
    ]


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def end_session(
    session_id: str, request: Request, claims: Authenticated, runtime: RuntimeDep
) -> Response:
    """End one of the caller's sessions (404 if it is not theirs)."""
    await runtime.sessions.end(
        session_id[:64],
        user_id=claims.sub,
        reason="ended_by_user",
        client=client_info(request),
        event="session_ended",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
