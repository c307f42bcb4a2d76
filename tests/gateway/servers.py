"""Real servers for the gateway tests: servers in threads, an echo upstream, an auth stand-in.

The gateway runs on its own HTTP/1.1 server (``GatewayThread``), as ``jotgate
gateway`` serves it; the upstreams and the auth stand-in on uvicorn.

Every server binds 127.0.0.1 on a free port, runs its own event loop in a
daemon thread and stops when told (fixtures stop them at teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from jotgate import jwk, jwt

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MB = 1024 * 1024


class ServerThread:
    """``app`` served by uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: ASGIApp, *, lifespan: str = "off") -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan=lifespan,
            loop="asyncio",
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


class GatewayThread:
    """A :class:`~jotgate.gateway.Gateway` (or any ASGI app) on ``jotgate gateway``'s server.

    ``loop``: ``"asyncio"`` or ``"uvloop"`` (the CLI's when installed).
    """

    def __init__(self, app: Any, *, loop: str = "asyncio", **options: Any) -> None:
        from jotgate.gateway import Gateway, GatewayServer

        self.app = app
        if isinstance(app, Gateway):
            self.server = GatewayServer.for_gateway(app, "127.0.0.1", 0, **options)
        else:  # any ASGI app (the server's own tests)
            self.server = GatewayServer(app, "127.0.0.1", 0, **options)
        self._loop_name = loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    def _run(self) -> None:
        if self._loop_name == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await self.server.start()
        self.port = self.server.addresses[0][1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def start(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(f"gateway did not start: {self._error!r}")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=15)


async def _read_json(send: Send, status: int, body: Any, headers: list[Any] | None = None) -> None:
    payload = json.dumps(body).encode()
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": out + (headers or [])})
    await send({"type": "http.response.body", "body": payload})


class Upstream:
    """An echo service: answers what it received, or behaves as the query asks.

    ``?sleep=S`` waits S seconds first; ``?download=N`` streams N bytes (in
    1 MiB chunks, pausing at ``download_gate`` after the first
    ``gate_after`` bytes until the test opens the gate); ``?status=N``
    answers N; anything else echoes method, path, headers and the body's
    size and SHA-256, counting bytes as they arrive in ``received``.
    """

    def __init__(self) -> None:
        self.received = 0  # body bytes of the request being read, as they arrive
        self.largest_chunk = 0
        self.download_gate = threading.Event()
        self.gate_after = 0
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.sent = 0  # bytes of the current download handed to the server so far

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        query = dict(
            part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part
        )
        if "sleep" in query:
            await asyncio.sleep(float(query["sleep"]))
        if "download" in query:
            await self._download(int(query["download"]), send)
            return
        digest = hashlib.sha256()
        size = 0
        self.received = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            digest.update(chunk)
            size += len(chunk)
            self.received = size
            self.largest_chunk = max(self.largest_chunk, len(chunk))
            if not message.get("more_body"):
                break
        echo = {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body_size": size,
            "body_sha256": digest.hexdigest(),
        }
        await _read_json(send, int(query.get("status", 200)), echo, self.response_headers)

    async def _download(self, total: int, send: Send) -> None:
        headers = [(b"content-type", b"application/octet-stream")]
        headers.append((b"content-length", str(total).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        chunk = bytes(range(256)) * (MB // 256)
        self.sent = 0
        while self.sent < total:
            if self.gate_after and self.sent >= self.gate_after:
                # Wait for the test in a worker thread: the server's loop stays free.
                await asyncio.get_running_loop().run_in_executor(None, self.download_gate.wait, 10)
                self.gate_after = 0
            part = chunk[: min(MB, total - self.sent)]
            self.sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": self.sent < total})


def header_values(echo: dict[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` (any case) the upstream received."""
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


class AuthStandIn:
    """The auth server's public face: its JWKS, revocation feed and some /auth/* routes.

    ``keys`` are the signing keys whose public halves ``/.well-known/jwks.json``
    serves (``jwks_max_age`` as its Cache-Control); ``revoked`` entries
    (``{"sid"|"jti", "exp"}``) are served on ``/auth/revocations`` per the
    polling contract; any other ``/auth/*`` path echoes what it received.
    """

    def __init__(self, keys: list[jwk.Key], *, jwks_max_age: int = 600) -> None:
        self.keys = keys
        self.jwks_max_age = jwks_max_age
        self.revoked: list[dict[str, Any]] = []
        self.jwks_hits = 0
        self.revocation_polls = 0
        self.url = ""  # set once served, for the iss claim

    def token(self, key: jwk.Key | None = None, **claims: Any) -> str:
        """An access token as the jotgate server issues them, signed by ``key``."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "aud": "jotgate",
            "sub": "user-1",
            "sid": "session-1",
            "jti": f"jti-{time.monotonic_ns()}",
            "iat": now,
            "exp": now + 900,
            "roles": ["reader"],
            "scope": "notes:read",
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, key or self.keys[0], typ="at+jwt")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/.well-known/jwks.json":
            self.jwks_hits += 1
            body = {"keys": [key.to_jwk() for key in self.keys]}
            cache = [(b"cache-control", f"max-age={self.jwks_max_age}".encode())]
            await _read_json(send, 200, body, cache)
        elif path == "/auth/revocations":
            self.revocation_polls += 1
            since = scope["query_string"].decode().partition("since=")[2]
            entries = list(self.revoked)
            fresh = entries[int(since) :] if since.isdigit() else entries
            await _read_json(send, 200, {"revoked": fresh, "cursor": str(len(entries))})
        else:
            while (await receive()).get("more_body"):
                pass
            headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
            await _read_json(send, 200, {"auth_server": True, "path": path, "headers": headers})
