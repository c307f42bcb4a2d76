"""Pure ASGI middleware: verify the token, put the claims in the scope, or answer.

Works under any ASGI framework (Starlette, FastAPI, Litestar, bare ASGI)
because it speaks only the ASGI protocol: no request object, no body read
(bodies stream through untouched), non-HTTP scopes such as ``lifespan``
passed straight on. On success the claims are ``scope["jotgate.claims"]``
(:data:`CLAIMS_KEY`). On failure an HTTP request gets the answer of
:class:`~jotgate.middleware.errors.AuthError` (401 + ``WWW-Authenticate``,
JSON ``{"error", "message"}``); a websocket handshake is refused with that
same HTTP answer where the server supports the ``websocket.http.response``
extension, and otherwise closed with code 1008 (policy violation).

Example::

    app = Starlette(routes=routes, lifespan=verifier.lifespan)
    app.add_middleware(AuthMiddleware, verifier=verifier, exclude=("/healthz",))

    async def me(request):
        claims = request.scope["jotgate.claims"]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from typing import Any, Final

from jotgate.errors import JoseError

from .claims import Claims
from .context import context_from_scope
from .errors import AuthError
from .transport import _scheme_token, read_credentials
from .verifier import Verifier

__all__ = ["CLAIMS_KEY", "AuthMiddleware", "claims_from_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the verified claims go in the ASGI scope (None: no token, not required).
CLAIMS_KEY: Final = "jotgate.claims"
_POLICY_VIOLATION: Final = 1008


def claims_from_scope(scope: Scope) -> Claims | None:
    """The claims :class:`AuthMiddleware` put in ``scope``, or None."""
    claims = scope.get(CLAIMS_KEY)
    return claims if isinstance(claims, Claims) else None


class AuthMiddleware:
    """Verifies ``Authorization: Bearer`` (or a cookie) on every HTTP and websocket request.

    ``required``: when False a request without any token passes with
    ``scope["jotgate.claims"] = None`` (a present but bad token is still
    refused: a client that sent one wants to know). ``exclude``: paths that
    skip verification; an entry ending in ``/`` excludes everything below
    it. ``expired_status``: the status for ``token_expired`` (401, or 419).
    ``cookie``: the name of a cookie to read the token from when there is no
    bearer header. ``trust_forwarded``: build a DPoP proof's expected URI
    from ``X-Forwarded-Proto``/``X-Forwarded-Host`` (only behind a proxy
    that sets them; default off: the request's own scheme and ``Host``) and
    the client address of an address-bound token from the right-most
    ``X-Forwarded-For`` entry (else ``X-Real-IP``) instead of the peer.

    A DPoP-bound token must come as ``Authorization: DPoP`` with one
    ``DPoP`` proof header (see :mod:`jotgate.middleware.binding`); a token
    with ``fgp`` needs its fingerprint cookie, one with ``bnd`` the address
    or user agent it was issued to (:mod:`jotgate.middleware.client_binding`).

    Example::

        app.add_middleware(AuthMiddleware, verifier=verifier, expired_status=419)
    """

    def __init__(
        self,
        app: ASGIApp,
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
        # Static keys and an in-process replay cache never await anything:
        # skip the coroutine on the hot path.
        self._sync = not verifier.awaits
        # Whether a request may take the lean path in __call__ at all.
        self._lean = self._sync and not self._exact and not self._prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        if self._lean and scope["type"] == "http":
            # The common request, in this one small coroutine (each request
            # builds it, and a big frame costs to build): a Bearer header, so
            # the headers are read once, up to the token. Anything else goes
            # to _full, and refusals and bound tokens to _answer.
            for name, value in scope["headers"]:
                if name == b"authorization":
                    if value[:7] == b"Bearer ":  # _bearer_token's answer, without the call
                        token = value[7:].decode("latin-1").strip()
                        try:
                            claims, jkt, bound = self.verifier._verified(token)
                        except JoseError as exc:
                            await self._refuse("http", scope, receive, send, self._failure(exc))
                            return
                        if jkt is None and bound is None:  # no RequestContext needed
                            scope[CLAIMS_KEY] = claims
                            await self.app(scope, receive, send)
                            return
                        await self._answer("http", scope, receive, send, token, claims, jkt, bound)
                        return
                    break
        await self._full(scope, receive, send)

    async def _full(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every request but the lean path's: other scopes, exclusions, schemes, async keys."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        if self._exact or self._prefixes:
            path = scope["path"]
            if path in self._exact or path.startswith(self._prefixes):
                await self.app(scope, receive, send)
                return
        if self._sync:
            # A Bearer token as __call__ judges it, in any spelling of the scheme.
            token = _bearer_token(scope["headers"])
            if token is not None:
                try:
                    claims, jkt, bound = self.verifier._verified(token)
                except JoseError as exc:
                    await self._refuse(kind, scope, receive, send, self._failure(exc))
                    return
                await self._answer(kind, scope, receive, send, token, claims, jkt, bound)
                return
        found = read_credentials(scope["headers"], self._cookie)
        if found is None:
            if not self._required:
                scope[CLAIMS_KEY] = None
                await self.app(scope, receive, send)
                return
            failure = AuthError.missing_token()
        else:
            request = context_from_scope(scope, found, trust_forwarded=self._trust_forwarded)
            try:
                if self._sync:
                    claims = self.verifier.verify(found.token, request=request)
                else:
                    claims = await self.verifier.averify(found.token, request=request)
            except JoseError as exc:
                failure = self._failure(exc)
            else:
                scope[CLAIMS_KEY] = claims
                await self.app(scope, receive, send)
                return
        await self._refuse(kind, scope, receive, send, failure)

    async def _answer(
        self,
        kind: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        token: str,
        claims: Claims,
        jkt: str | None,
        bound: tuple[Any, Any] | None,
    ) -> None:
        """Pass or refuse a verified Bearer token: its bindings checked, when it has any."""
        if jkt is not None or bound is not None:
            # Only now a RequestContext: most tokens are bound to nothing.
            found = read_credentials(scope["headers"], self._cookie)
            request = context_from_scope(scope, found, trust_forwarded=self._trust_forwarded)
            try:
                self.verifier._check_bindings(token, jkt, bound, request)
            except JoseError as exc:
                await self._refuse(kind, scope, receive, send, self._failure(exc))
                return
        scope[CLAIMS_KEY] = claims
        await self.app(scope, receive, send)

    def _failure(self, exc: JoseError) -> AuthError:
        return self.verifier.failure(exc, expired_status=self._expired_status)

    @staticmethod
    async def _refuse(
        kind: str, scope: Scope, receive: Receive, send: Send, failure: AuthError
    ) -> None:
        if kind == "http":
            await send_http_error(send, failure)
        else:
            await _refuse_websocket(scope, receive, send, failure)


def _bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token when :func:`read_credentials` would find it in a ``Bearer`` header, else None.

    None also when the answer is another scheme (``DPoP``) or no header at
    all (a cookie, or nothing): the caller then asks ``read_credentials``.
    Like it, the first ``Authorization`` with a known scheme counts.
    """
    for name, value in headers:
        if name == b"authorization":
            if value.startswith(b"Bearer "):
                # What _scheme_token gives (nothing to strip on the left),
                # decoding only the token: latin-1 maps byte to character.
                return value[7:].decode("latin-1").strip()
            found = _scheme_token(value.decode("latin-1"))
            if found is not None:
                return found[1] if found[0] == "bearer" else None
    return None


def _asgi_headers(failure: AuthError) -> list[tuple[bytes, bytes]]:
    # ASGI header names are lower-case bytes.
    return [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in failure.headers]


async def send_http_error(send: Send, failure: AuthError) -> None:
    """Send ``failure`` as a complete HTTP response."""
    headers = _asgi_headers(failure)
    headers.append((b"content-length", str(len(failure.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": failure.body})


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, failure: AuthError) -> None:
    # The server sends websocket.connect first; the answer must follow it.
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client already left
    if "websocket.http.response" in (scope.get("extensions") or {}):
        headers = _asgi_headers(failure)
        await send(
            {"type": "websocket.http.response.start", "status": failure.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": failure.body})
    else:
        await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": failure.code})
