"""FastAPI dependencies: ``require_token(roles=..., scopes=...)`` returning typed claims.

A failing dependency raises :class:`TokenRejected`, a FastAPI
``HTTPException`` carrying the :class:`~jotgate.middleware.errors.AuthError`:
with :func:`install`, it is rendered as DESIGN.md's answer (401 +
``WWW-Authenticate`` + ``{"error", "message"}``, 403 for
``insufficient_scope``); without it, FastAPI's own handler still answers
with the right status and ``WWW-Authenticate``, the body nested under
``"detail"``. Never a 500.

When :class:`~jotgate.middleware.AuthMiddleware` already verified the
request, the dependency reuses its claims and only checks roles and scopes;
otherwise it verifies the token itself with the given verifier. Both HTTP
routes and websocket routes can depend on it.

Example — Express's ``verifyToken`` (419 on expiry, 401 otherwise)::

    verify_token = require_token(Verifier(key, algorithms=["HS256"]), expired_status=419)
    install(app)

    @app.get("/me")
    async def me(claims: Claims = Depends(verify_token)) -> dict[str, Any]:
        return claims.to_dict()

    admin_only = require_token(verifier, roles=["admin"])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, Final

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from jotgate.errors import JoseError

from .asgi import CLAIMS_KEY
from .claims import Claims
from .context import context_from_scope
from .errors import AuthError
from .transport import read_credentials
from .verifier import Verifier

__all__ = ["TokenRejected", "auth_error_handler", "install", "require_token"]

_ABSENT: Final = object()


class TokenRejected(HTTPException):
    """An :class:`AuthError` as FastAPI's ``HTTPException``, so it is never a 500."""

    def __init__(self, error: AuthError) -> None:
        """Carry ``error``; status, body and challenge come from it."""
        headers = {name: value for name, value in error.headers if name != "Content-Type"}
        detail = {"error": error.code, "message": error.message}
        super().__init__(status_code=error.status, detail=detail, headers=headers)
        self.auth_error = error


def require_token(
    verifier: Verifier | None = None,
    *,
    roles: Collection[str] = (),
    scopes: Collection[str] = (),
    expired_status: int = 401,
    cookie: str | None = None,
    trust_forwarded: bool = False,
) -> Callable[[HTTPConnection], Awaitable[Claims]]:
    """A dependency that returns the request's :class:`Claims` or raises :class:`AuthError`.

    ``roles`` and ``scopes``: every one listed is needed (403
    ``insufficient_scope`` names the missing ones). ``verifier`` may be
    omitted when :class:`AuthMiddleware` runs in front. ``expired_status``,
    ``cookie`` and ``trust_forwarded`` (DPoP proof URIs from
    ``X-Forwarded-Proto/Host``, the client address from ``X-Forwarded-For``)
    apply when this dependency verifies itself.

    Example::

        @app.delete("/notes/{id}")
        async def delete(id: int, claims: Annotated[Claims, Depends(
                require_token(verifier, scopes=["notes:write"]))]) -> None: ...
    """
    if isinstance(roles, str) or isinstance(scopes, str):
        raise TypeError("roles and scopes are lists of names, not one string")
    roles, scopes = tuple(roles), tuple(scopes)

    async def dependency(connection: HTTPConnection) -> Claims:
        try:
            return await _claims_for(connection)
        except AuthError as error:
            raise TokenRejected(error) from None

    async def _claims_for(connection: HTTPConnection) -> Claims:
        found = connection.scope.get(CLAIMS_KEY, _ABSENT)
        if isinstance(found, Claims):
            claims = found
        elif found is None:
            # The middleware ran with required=False and saw no token.
            raise AuthError.missing_token()
        elif verifier is None:
            raise RuntimeError(
                "require_token() without a verifier needs AuthMiddleware in front of the app"
            )
        else:
            scope = connection.scope
            found = read_credentials(scope["headers"], cookie)
            if found is None:
                raise AuthError.missing_token()
            request = context_from_scope(scope, found, trust_forwarded=trust_forwarded)
            try:
                claims = await verifier.averify(found.token, request=request)
            except JoseError as exc:
                raise verifier.failure(exc, expired_status=expired_status) from None
        if roles or scopes:
            lacking = claims.missing(roles, scopes)
            if lacking:
                raise AuthError.insufficient_scope(lacking)
        return claims

    return dependency


async def auth_error_handler(connection: HTTPConnection, exc: Exception) -> Response | None:
    """Render a :class:`TokenRejected` (or bare :class:`AuthError`) as DESIGN.md's answer.

    A websocket handshake gets the same HTTP answer where the server
    supports denial responses, else a close with code 1008.
    """
    if isinstance(exc, TokenRejected):
        exc = exc.auth_error
    if not isinstance(exc, AuthError):  # pragma: no cover - registered for these only
        raise exc
    response = Response(exc.body, status_code=exc.status, headers=dict(exc.headers))
    if isinstance(connection, WebSocket):
        if "websocket.http.response" in (connection.scope.get("extensions") or {}):
            await connection.send_denial_response(response)
        else:
            await connection.close(code=1008, reason=exc.code)
        return None
    return response


def install(app: FastAPI) -> FastAPI:
    """Register :func:`auth_error_handler` on ``app`` (and return ``app``)."""
    # Starlette types HTTP and websocket handlers separately; this one is both.
    handler: Any = auth_error_handler
    app.add_exception_handler(TokenRejected, handler)
    app.add_exception_handler(AuthError, handler)
    return app
