"""Django: a ``require_token`` view decorator; the claims become ``request.claims``.

Works with ``WSGIAuthMiddleware`` in front (its claims are reused) or alone
(it verifies ``request.META``'s bearer header or cookie itself). A failure
is answered with the JSON error of DESIGN.md before the view runs.

Example::

    verifier = Verifier(key, algorithms=["ES256"], issuer=ISSUER, audience="notes")

    @require_token(verifier, scopes=["notes:read"])
    def notes(request):
        return JsonResponse({"user": request.claims.sub})
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.http import (  # type: ignore[import-untyped, unused-ignore]
    HttpRequest,
    HttpResponse,
)

from .errors import AuthError
from .verifier import Verifier
from .wsgi import check_request

__all__ = ["require_token"]

P = ParamSpec("P")
R = TypeVar("R")
View = Callable[Concatenate[HttpRequest, P], R]


def require_token(
    verifier: Verifier | None = None,
    *,
    roles: Collection[str] = (),
    scopes: Collection[str] = (),
    expired_status: int = 401,
    cookie: str | None = None,
    trust_forwarded: bool = False,
) -> Callable[[View[P, R]], View[P, R | HttpResponse]]:
    """A decorator that lets the view run only with a valid token (and the roles/scopes).

    Example::

        @require_token(verifier, roles=["admin"], expired_status=419)
        def admin(request): ...
    """
    if isinstance(roles, str) or isinstance(scopes, str):
        raise TypeError("roles and scopes are lists of names, not one string")
    roles, scopes = tuple(roles), tuple(scopes)

    def decorate(view: View[P, R]) -> View[P, R | HttpResponse]:
        def guarded(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
            try:
                claims = check_request(
                    request.META,
                    verifier,
                    roles=roles,
                    scopes=scopes,
                    expired_status=expired_status,
                    cookie=cookie,
                    trust_forwarded=trust_forwarded,
                )
            except AuthError as failure:
                response = HttpResponse(failure.body, status=failure.status)
                for name, value in failure.headers:
                    response[name] = value
                return response
            request_with_claims: Any = request
            request_with_claims.claims = claims
            return view(request, *args, **kwargs)

        functools.update_wrapper(guarded, view)
        return guarded

    return decorate
