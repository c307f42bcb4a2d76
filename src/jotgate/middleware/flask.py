"""Flask: a ``require_token`` view decorator and ``current_claims()``.

The decorator reuses the claims of :class:`~jotgate.middleware.WSGIAuthMiddleware`
when it runs in front, or verifies the request's token itself; a failure is
answered with the JSON error of DESIGN.md before the view runs.

Example — Express's ``verifyToken`` (419 on expiry, 401 otherwise)::

    verify_token = require_token(Verifier(key, algorithms=["HS256"]), expired_status=419)

    @app.get("/me")
    @verify_token
    def me():
        return current_claims().to_dict()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import ParamSpec, TypeVar

from flask import Response, request

from .claims import Claims
from .errors import AuthError
from .verifier import Verifier
from .wsgi import CLAIMS_KEY, check_request

__all__ = ["current_claims", "require_token"]

P = ParamSpec("P")
R = TypeVar("R")


def current_claims() -> Claims:
    """The claims of the current request (inside a view guarded by this module)."""
    claims = request.environ.get(CLAIMS_KEY)
    if not isinstance(claims, Claims):
        raise LookupError("no verified token for this request: guard the view with require_token")
    return claims


def require_token(
    verifier: Verifier | None = None,
    *,
    roles: Collection[str] = (),
    scopes: Collection[str] = (),
    expired_status: int = 401,
    cookie: str | None = None,
    trust_forwarded: bool = False,
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """A decorator that lets the view run only with a valid token (and the roles/scopes).

    ``verifier`` may be omitted when ``WSGIAuthMiddleware`` runs in front.

    Example::

        @app.post("/admin/users")
        @require_token(verifier, roles=["admin"])
        def create_user(): ...
    """
    if isinstance(roles, str) or isinstance(scopes, str):
        raise TypeError("roles and scopes are lists of names, not one string")
    roles, scopes = tuple(roles), tuple(scopes)

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            try:
                check_request(
                    request.environ,
                    verifier,
                    roles=roles,
                    scopes=scopes,
                    expired_status=expired_status,
                    cookie=cookie,
                    trust_forwarded=trust_forwarded,
                )
            except AuthError as failure:
                return Response(failure.body, status=failure.status, headers=failure.headers)
            return view(*args, **kwargs)

        functools.update_wrapper(guarded, view)
        return guarded

    return decorate
