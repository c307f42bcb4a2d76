"""The demo's four servers in one event loop: auth server, gateway, two sample services.

Everything listens on 127.0.0.1. Ports are taken from ``port_base``
(auth, gateway, notes, hello = base .. base+3) or chosen free by the kernel;
either way the sockets are bound here first and handed to uvicorn, so the
auth server's issuer URL is known before it starts and no other program can
take a port between choosing it and listening on it.

The auth server gets a fresh SQLite database in a temporary directory that
:meth:`Stack.stop` removes, a short access-token lifetime, and one service
client (id and a random secret) that the gateway uses to poll
``/auth/revocations``: that is how a logout reaches the gateway within a
second without Redis (docs/gateway.md, "Logout within a second").

Example::

    stack = Stack(DemoOptions(access_ttl=20))
    await stack.start()
    try:
        print(stack.urls.gateway)
    finally:
        await stack.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import uvicorn

from .services import EchoService

__all__ = ["CLIENT_ID", "DemoError", "DemoOptions", "Stack", "Urls"]

#: The gateway's client id at the auth server (its secret is made per run).
CLIENT_ID: Final = "demo-gateway"
_LOOPBACK: Final = "127.0.0.1"


class DemoError(Exception):
    """The demo cannot start: a port is taken, a server failed to come up..."""


@dataclass(frozen=True)
class DemoOptions:
    """What a demo run is made of; the defaults are the interactive demo's."""

    access_ttl: int = 20
    port_base: int | None = None
    #: How often the gateway asks the auth server for revocations (<= 1 s).
    poll_interval: float = 0.25
    log_level: str = "warning"


@dataclass(frozen=True)
class Urls:
    """Where each part listens (``http://127.0.0.1:PORT``)."""

    auth: str
    gateway: str
    notes: str
    hello: str


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the demo.

    uvicorn installs its own handlers for the duration of ``serve()``; with
    four servers in one loop each would replace the previous one's, and only
    the last would hear Ctrl-C. The demo stops them all, in order, itself.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(ports: list[int]) -> list[socket.socket]:
    """Listening-ready sockets on 127.0.0.1 for ``ports`` (0: any free port)."""
    bound: list[socket.socket] = []
    try:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((_LOOPBACK, port))
            except OSError as exc:
                raise DemoError(f"cannot listen on {_LOOPBACK}:{port}: {exc.strerror}") from None
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


class Stack:
    """The running demo: start it, read :attr:`urls`, stop it."""

    def __init__(self, options: DemoOptions) -> None:
        """Nothing is bound or started until :meth:`start`."""
        self.options = options
        self.data_dir: Path | None = None
        self._servers: list[tuple[str, _QuietServer, asyncio.Task[None]]] = []
        self._sockets: list[socket.socket] = []
        self._urls: Urls | None = None

    @property
    def urls(self) -> Urls:
        """The four base URLs (after :meth:`start`)."""
        if self._urls is None:
            raise RuntimeError("the demo has not started")
        return self._urls

    async def start(self) -> None:
        """Bind the ports, then start the services, the auth server and the gateway."""
        base = self.options.port_base
        wanted = [base + i for i in range(4)] if base is not None else [0, 0, 0, 0]
        self._sockets = _bind(wanted)
        auth, gateway, notes, hello = (s.getsockname()[1] for s in self._sockets)
        self._urls = Urls(*(f"http://{_LOOPBACK}:{p}" for p in (auth, gateway, notes, hello)))
        self.data_dir = Path(tempfile.mkdtemp(prefix="jotgate-demo-"))
        secret = secrets.token_urlsafe(24)
        try:
            # Upstreams first, the gateway last: it fetches the auth
            # server's keys and starts its revocation feed when it starts.
            await self._serve("notes", EchoService("notes"), self._sockets[2])
            await self._serve("hello", EchoService("hello"), self._sockets[3])
            await self._serve("auth server", self._auth_app(auth, secret), self._sockets[0])
            await self._serve("gateway", self._gateway_app(secret), self._sockets[1])
        except BaseException:
            await self.stop()
            raise

    def _auth_app(self, port: int, secret: str) -> Any:
        from jotgate.server import create_app
        from jotgate.server.settings import Settings

        assert self.data_dir is not None
        settings = Settings.validated(
            {
                "host": _LOOPBACK,
                "port": port,
                "issuer": f"http://{_LOOPBACK}:{port}",
                "database_url": f"sqlite+aiosqlite:///{self.data_dir / 'jotgate-demo.db'}",
                "access_token_ttl": self.options.access_ttl,
                "introspection_clients": [(CLIENT_ID, secret)],
                # Seals the private signing key at rest, as in production; made
                # per run like the data, and saves the warning about its absence.
                "secret": secrets.token_urlsafe(24),
            }
        )
        return create_app(settings)

    def _gateway_app(self, secret: str) -> Any:
        from jotgate.gateway import Gateway, load

        urls = self.urls
        settings = load(
            None,
            {
                "listen": urls.gateway.removeprefix("http://"),
                "auth_server": urls.auth,
                "client_id": CLIENT_ID,
                "client_secret": secret,
                "revocation_poll_interval": self.options.poll_interval,
                "upstream_timeout": 10,
            },
            routes=[f"/api={urls.notes}"],
            public_routes=[f"/public={urls.hello}"],
        )
        return Gateway(settings)

    async def _serve(self, name: str, app: Any, sock: socket.socket) -> None:
        config = uvicorn.Config(
            app,
            log_level=self.options.log_level,
            access_log=self.options.log_level == "debug",
            # The gateway sets X-Forwarded-* and passes Date/Server through;
            # nothing here sits behind another proxy.
            proxy_headers=False,
            server_header=False,
            date_header=False,
            lifespan="on",
            # curl and browsers keep connections open; do not wait on them at Ctrl-C.
            timeout_graceful_shutdown=2,
        )
        server = _QuietServer(config)
        task = asyncio.create_task(_serve(server, sock, name), name=f"demo {name}")
        self._servers.append((name, server, task))
        while not server.started:
            if task.done():
                task.result()  # the DemoError of _serve
                raise DemoError(f"the {name} stopped while starting")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop every server (gateway first) and remove the data directory."""
        # In reverse start order: the gateway's feed polls the auth server
        # until the gateway is told to stop, so the auth server goes after it.
        for _, server, task in reversed(self._servers):
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self._servers.clear()
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


async def _serve(server: uvicorn.Server, sock: socket.socket, name: str) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit:
        # uvicorn ends a failed start-up with SystemExit, which an asyncio
        # task would let escape the event loop and end the whole demo
        # without a word; an ordinary error lets it stop the rest first.
        raise DemoError(f"the {name} did not start (see the messages above)") from None
