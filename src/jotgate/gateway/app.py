"""The gateway as a pure ASGI app: one front door for the auth server and every service.

Each HTTP request, in this order:

1. its request id is taken (a well-formed ``X-Request-Id``) or made;
2. the gateway's own paths answer at once: ``/healthz`` and the
   forward-auth check (``verify_path``, default ``/_jotgate/verify``);
3. paths with ``.``/``..`` segments are refused (400), then the route is
   found by longest prefix (404 when none);
4. on ``required`` routes the token is verified (401) — decrypted first
   when encrypted, with its DPoP proof, fingerprint cookie (``fgp``) and
   client address or user agent (``bnd``) when bound — and the route's
   roles and scopes checked (403);
5. the request goes upstream without any identity header the client sent
   (``X-User-*``, ``X-Auth-*``, ``X-Session-Id``, configured names, on
   every route, public ones included) and, when authenticated, with the
   gateway's own: ``X-User-Id``, ``X-User-Roles``, ``X-User-Scopes``,
   ``X-Session-Id``, ``X-Auth-Claims``; ``Authorization``, ``DPoP`` and the
   fingerprint cookie are dropped unless the route keeps ``Authorization``.

The paths under ``auth_paths`` (``/auth``, ``/.well-known``) go to the auth
server as public routes that keep ``Authorization``, so clients log in,
refresh and log out through the gateway's origin.

Example::

    app = Gateway(config.load("gateway.toml"))
    uvicorn.run(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qs

from jotgate.errors import JoseError
from jotgate.middleware import AuthError

from .admissions import Admissions, header_block
from .auth import Authenticator, authorize
from .headers import (
    Forwarding,
    HeaderPolicy,
    identity_headers,
    original_target,
    request_target,
    scan_request,
)
from .proxy import Upstreams, send_json
from .routing import Router, is_unsafe_path, upstream_target
from .settings import Route, Settings
from .upstream import UpstreamError, split_url

__all__ = ["Gateway"]

log = logging.getLogger("jotgate.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEALTH_PATH: Final = "/healthz"
_UNFORWARDABLE: Final = AuthError(
    401,
    "invalid_token",
    "the access token's claims cannot be forwarded as headers",
    'Bearer error="invalid_token"',
)


class Gateway:
    """The ASGI app (lifespan included) for ``settings``.

    ``authenticator`` replaces the one built from the settings (tests,
    embedding with a custom :class:`~jotgate.middleware.Verifier`).
    """

    def __init__(self, settings: Settings, *, authenticator: Authenticator | None = None) -> None:
        """Build the routing table and header rules; nothing connects before startup."""
        self.settings = settings
        routes = list(settings.routes)
        if settings.auth_server is not None:
            routes += [
                Route(prefix, settings.auth_server, auth="public", keep_authorization=True)
                for prefix in settings.auth_paths
            ]
        self.router = Router(routes)
        # Each upstream's origin and base path, split once rather than per request.
        self._upstream_origins: dict[str, tuple[str, bytes]] = {}
        for route in routes:
            with contextlib.suppress(UpstreamError, UnicodeEncodeError):
                # Not split_url's target: that is "/" for no path, and here the
                # client's path follows the base.
                origin = split_url(route.upstream)[0]
                self._upstream_origins[route.upstream] = (
                    origin,
                    route.upstream[len(origin) :].encode("latin-1"),
                )
        self.policy = HeaderPolicy(
            extra=settings.strip_headers,
            trust_forwarded=settings.trust_forwarded,
            fingerprint_cookies=settings.fingerprint_cookies,
        )
        self.auth = authenticator or Authenticator.from_settings(settings)
        self.admissions = Admissions()
        self.upstreams = Upstreams(
            connect_timeout=settings.connect_timeout,
            timeout=settings.upstream_timeout,
            max_connections=settings.max_connections,
        )
        verify = settings.verify_path
        self._verify_prefix = verify + "/"
        self._verify_path = verify
        self._started = False
        self._starting = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: ``lifespan`` and ``http``; websockets are refused."""
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Not proxied (yet): refuse the handshake rather than pretend.
            await send({"type": "websocket.close", "code": 1008})

    async def startup(self) -> None:
        """Open the upstream pool, fetch the keys, start the revocation feed."""
        async with self._starting:
            if not self._started:
                await self.upstreams.start()
                await self.auth.start()
                self._started = True

    async def shutdown(self) -> None:
        """Stop the feed and close every connection."""
        self._started = False
        await self.auth.stop()
        await self.upstreams.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests ----------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request (an ASGI ``http`` scope): what ``__call__`` does for those.

        The gateway's own server (:class:`~jotgate.gateway.GatewayServer`)
        calls it directly, one coroutine frame fewer per request.
        """
        if not self._started:
            # Served without lifespan events (uvicorn --lifespan off): start
            # on the first request rather than run without a revocation feed.
            await self.startup()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        facts = scan_request(headers)
        rid = facts.request_id
        path: str = scope["path"]
        if path == HEALTH_PATH:
            await self._health(send, rid)
            return
        if path == self._verify_path or path.startswith(self._verify_prefix):
            await self._forward_auth(scope, send, rid)
            return
        if is_unsafe_path(path):
            await _error(send, 400, "bad_path", "paths with '.' or '..' segments are refused", rid)
            return
        route = self.router.match(path)
        if route is None:
            await _error(send, 404, "not_found", "no route for this path", rid)
            return
        identity = b""
        if not route.public:
            admitted = self.admissions.find(headers)
            if admitted is not None:
                # A token admitted before: the verifier still judges it (expiry,
                # revocation) on this request; only reading and encoding are saved.
                try:
                    claims = await self.auth.verifier.averify(admitted.token)
                except JoseError as exc:
                    await _deny(send, self.auth.refusal(exc), rid)
                    return
                denial = authorize(claims, route.roles, route.scopes)
                if denial is not None:
                    await _deny(send, denial, rid)
                    return
                identity = admitted.block
            else:
                trust = self.policy.trust_forwarded

                def proof_target() -> tuple[str, str]:  # what a DPoP proof must be for
                    return request_target(scope, trust_forwarded=trust)

                verdict = await self._check(
                    scope, route.roles, route.scopes, proof_target, remember=True
                )
                if isinstance(verdict, AuthError):
                    await _deny(send, verdict, rid)
                    return
                identity = header_block(verdict)
        client = scope.get("client")
        forwarding = Forwarding(
            client[0] if client else None, scope.get("scheme", "http"), facts.host, rid
        )
        upstream_headers = self.policy.for_upstream(
            headers, forwarding, keep_authorization=route.keep_authorization
        )
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope.get("query_string", b"")
        split = self._upstream_origins.get(route.upstream) if not route.strip_prefix else None
        if split is not None:
            # The client's raw path goes on unchanged: join bytes, parse nothing.
            origin, target = split[0], split[1] + raw_path + (b"?" + query if query else b"")
        else:
            origin, target = split_url(upstream_target(route, path, raw_path, query))
        await self.upstreams.forward(
            scope["method"],
            origin,
            target,
            upstream_headers,
            receive,
            send,
            rid,
            body=facts.has_body,
            identity=identity,
        )

    async def _check(
        self,
        scope: Scope,
        roles: tuple[str, ...],
        scopes: tuple[str, ...],
        target: Callable[[], tuple[str, str]],
        *,
        remember: bool = False,
    ) -> list[tuple[bytes, bytes]] | AuthError:
        """The identity headers for a verified, authorized token, or the failure.

        ``target``: the (method, URI) a DPoP proof must be for. The client's
        address (for ``bnd``) is the peer's, or with ``trust_forwarded`` the
        one ``X-Forwarded-For``/``X-Real-IP`` names. ``remember``: a token
        that passes and needs nothing else from the request is kept for its
        next requests (:class:`~jotgate.gateway.admissions.Admissions`).
        """
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        found = self.auth.credentials(headers)
        if found is None:
            return AuthError.missing_token()
        client = scope.get("client")
        verdict = await self.auth.check(
            headers,
            found,
            target,
            peer=str(client[0]) if client else None,
            trust_forwarded=self.policy.trust_forwarded,
        )
        if isinstance(verdict, AuthError):
            return verdict
        denial = authorize(verdict, roles, scopes)
        if denial is not None:
            return denial
        try:
            identity = identity_headers(verdict)
        except ValueError:
            return _UNFORWARDABLE
        if remember:
            self.admissions.remember(headers, found, verdict, identity)
        return identity

    async def _forward_auth(self, scope: Scope, send: Send, rid: bytes) -> None:
        """nginx ``auth_request`` / Traefik ForwardAuth / Envoy ext_authz.

        200 with the identity headers, 401 with ``WWW-Authenticate``, or
        403: never a redirect, and never a 5xx as the answer about a token
        (an edge would turn a 5xx into an outage instead of a refusal).
        ``?roles=a,b&scopes=x`` (or the server's ``?role=``) add requirements.
        A DPoP proof is checked against ``X-Original-Method``/``-URI`` (or
        Traefik's ``X-Forwarded-Method``/``-Uri``) when forwarding headers
        are trusted, else against this check request itself.
        """
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        roles = _listed(query, "roles") + tuple(query.get("role", ()))
        scopes = _listed(query, "scopes")
        trust = self.policy.trust_forwarded

        def target() -> tuple[str, str]:
            return original_target(scope, trust_forwarded=trust)

        try:
            verdict = await self._check(scope, roles, scopes, target)
        except Exception:
            # A bug here must still not open the door, nor read as an outage.
            log.exception("forward-auth check failed")
            verdict = AuthError.from_jose(JoseError("internal error"), expired_status=401)
        if isinstance(verdict, AuthError):
            # Proxies read only 200/401/403; a configured 419 would become a 500.
            if verdict.status not in (401, 403):
                verdict.status = 401
            verdict.headers.append(("X-Auth-Error", verdict.code))
            await _deny(send, verdict, rid)
            return
        out = [*verdict, (b"cache-control", b"no-store"), (b"x-request-id", rid)]
        out.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": b""})

    async def _health(self, send: Send, rid: bytes) -> None:
        body = {
            "status": "ok",
            "revocations": "following" if self.auth.feed_started else "starting",
        }
        await send_json(send, 200, body, [(b"x-request-id", rid)])


def _listed(query: dict[str, list[str]], name: str) -> tuple[str, ...]:
    return tuple(item for value in query.get(name, ()) for item in value.split(",") if item)


async def _deny(send: Send, failure: AuthError, rid: bytes) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in failure.headers]
    headers += [(b"content-length", str(len(failure.body)).encode()), (b"x-request-id", rid)]
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": failure.body})


async def _error(send: Send, status: int, code: str, message: str, rid: bytes) -> None:
    await send_json(send, status, {"error": code, "message": message}, [(b"x-request-id", rid)])
