"""FastAPI dependencies: the runtime, and the caller's verified access token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer

from .errors import missing_token
from .runtime import Runtime
from .tokens import AccessClaims
from .transport import access_token_from

__all__ = ["Authenticated", "RuntimeDep", "authenticated", "get_runtime", "oauth2_scheme"]

#: Declares the password flow in the OpenAPI document, so the /docs "Authorize"
#: button logs in through /auth/token. It reads nothing itself (auto_error off):
#: the token is taken by :func:`access_token_from`, cookies included.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_runtime(request: Request) -> Runtime:
    """The process's :class:`Runtime`, set up by the lifespan."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def authenticated(
    request: Request,
    runtime: RuntimeDep,
    _declared: Annotated[str | None, Security(oauth2_scheme)] = None,
) -> AccessClaims:
    """The verified claims of the caller's access token, or a 401 that says why."""
    presented = access_token_from(request, runtime.settings)
    if presented is None:
        raise missing_token()
    return await runtime.tokens.authenticate(presented.token)


Authenticated = Annotated[AccessClaims, Depends(authenticated)]
