"""WSGI middleware: the ASGI middleware's behaviour for Flask, Django and any WSGI app.

On success the claims are ``environ["jotgate.claims"]`` (:data:`CLAIMS_KEY`);
on failure the request is answered here with the JSON error of DESIGN.md.
Request bodies are never read. :func:`check_request` is the shared core of
this middleware and the Flask and Django decorators.

Example::

    app.wsgi_app = WSGIAuthMiddleware(app.wsgi_app, verifier, exclude=("/healthz",))
    # Django: application = WSGIAuthMiddleware(get_wsgi_application(), verifier)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, MutableMapping
from typing import Any, Final

from jotgate.errors import JoseError

from .claims import Claims
from .context import context_from_environ
from .errors import AuthError
from .transport import credentials_from_environ
from .verifier import Verifier

__all__ = ["CLAIMS_KEY", "WSGIAuthMiddleware", "check_request"]

#: Where the verified claims go in the WSGI environ (None: no token, not required).
CLAIMS_KEY: Final = "jotgate.claims"

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_ABSENT: Final = object()


def check_request(
    environ: Environ,
    verifier: Verifier | None,
    *,
    roles: Collection[str] = (),
    scopes: Collection[str] = (),
    expired_status: int = 401,
    cookie: str | None = None,
    trust_forwarded: bool = False,
) -> Claims:
    """The request's claims (verifying unless a middleware did already), or :class:`AuthError`.

    Stores them in ``environ[CLAIMS_KEY]``. ``roles``/``scopes``: all needed.
    ``trust_forwarded``: a DPoP proof's URI may use ``X-Forwarded-Proto/Host``
    and the client address (for ``bnd``) the right-most ``X-Forwarded-For``
    entry (else ``X-Real-IP``) instead of ``REMOTE_ADDR``.
    """
    found = environ.get(CLAIMS_KEY, _ABSENT)
    if isinstance(found, Claims):
        claims = found
    elif found is None:
        raise AuthError.missing_token()
    elif verifier is None:
        raise RuntimeError("without a verifier, WSGIAuthMiddleware must run in front")
    else:
        found = credentials_from_environ(environ, cookie)
        if found is None:
            raise AuthError.missing_token()
        try:
            request = context_from_environ(environ, found, trust_forwarded=trust_forwarded)
            claims = verifier.verify(found.token, request=request)
        except JoseError as exc:
            raise verifier.failure(exc, expired_status=expired_status) from None
        environ[CLAIMS_KEY] = claims
    if roles or scopes:
        lacking = claims.missing(roles, scopes)
        if lacking:
            raise AuthError.insufficient_scope(lacking)
    return claims


class WSGIAuthMiddleware:
    """Verifies the bearer token (or cookie) of every request before ``app`` sees it.

    Options as :class:`~jotgate.middleware.AuthMiddleware`: ``required``,
    ``exclude`` (exact paths, or prefixes ending in ``/``),
    ``expired_status``, ``cookie``, ``trust_forwarded``.

    Example::

        app.wsgi_app = WSGIAuthMiddleware(app.wsgi_app, verifier, expired_status=419)
    """

    def __init__(
        self,
        app: WSGIApp,
        verifier: Verifier,
        *,
        required: bool = True,
        exclude: Collection[str] = (),
        expired_status: int = 401,
        cookie: str | None = None,
        trust_forwarded: bool = False,
    ) -> None:
        """Wrap ``app``; see the class docstring."""
        self.app = app
        self.verifier = verifier
        self._required = required
        self._exact = frozenset(path for path in exclude if not path.endswith("/"))
        self._prefixes = tuple(path for path in exclude if path.endswith("/"))
        self._expired_status = expired_status
        self._cookie = cookie
        self._trust_forwarded = trust_forwarded

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        if self._exact or self._prefixes:
            path = environ.get("PATH_INFO", "")
            if path in self._exact or path.startswith(self._prefixes):
                return self.app(environ, start_response)
        found = credentials_from_environ(environ, self._cookie)
        if found is None:
            if not self._required:
                environ[CLAIMS_KEY] = None
                return self.app(environ, start_response)
            return respond(AuthError.missing_token(), start_response)
        try:
            request = context_from_environ(environ, found, trust_forwarded=self._trust_forwarded)
            environ[CLAIMS_KEY] = self.verifier.verify(found.token, request=request)
        except JoseError as exc:
            failure = self.verifier.failure(exc, expired_status=self._expired_status)
            return respond(failure, start_response)
        return self.app(environ, start_response)


def respond(failure: AuthError, start_response: StartResponse) -> list[bytes]:
    """Answer a WSGI request with ``failure``."""
    headers = [*failure.headers, ("content-length", str(len(failure.body)))]
    start_response(failure.status_line, headers)
    return [failure.body]
