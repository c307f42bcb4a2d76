"""FastAPI dependencies: the runtime, and the caller's verified access token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer

from .request_auth import authenticate_request
from .runtime import Runtime
from .tokens import AccessClaims

__all__ = ["Authenticated", "RuntimeDep", "authenticated", "get_runtime", "oauth2_scheme"]

#: Declares the password flow in the OpenAPI document, so the /docs "Authorize"
#: button logs in through /auth/token. It reads nothing itself (auto_error off):
#: the token is taken by :func:`.request_auth.authenticate_request`, cookies included.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    """The process's :class:`Runtime`, set up by the lifespan.

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread
    pool, a thread hand-off on every authenticated request.
    """
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def authenticated(
    request: Request,
    runtime: RuntimeDep,
    _declared: Annotated[str | None, Security(oauth2_scheme)] = None,
) -> AccessClaims:
    """The verified claims of the caller's access token, or a 401 that says why.

    Bindings included: fingerprint cookie, client address or user agent,
    DPoP proof (see :mod:`.request_auth`).
    """
    return await authenticate_request(request, runtime)


Authenticated = Annotated[AccessClaims, Depends(authenticated)]
