"""The gateway's own HTTP/1.1 server: what ``jotgate gateway`` serves with.

uvicorn is a general ASGI server; under load its per-request machinery
(the request cycle object, header validation, the response writer's two
writes, keep-alive timers) cost about as much CPU as the gateway's own
work, for a proxy whose throughput is bound by the CPU of one process.
This server does what the gateway needs and no more, on ``httptools``
(:mod:`jotgate.gateway._h1server`): one task per request, the ASGI
messages handed straight to :class:`~jotgate.gateway.Gateway` (the same
app, so every proxy rule has one implementation), a response head and a
whole small body in one write, deadlines checked by one sweeper task
instead of a timer per request.

:class:`GatewayServer` starts the app (its ``startup``), listens, and on
:meth:`~GatewayServer.stop` stops listening, closes idle connections, lets
requests in flight finish (up to ``graceful_timeout``), then stops the app.

Example::

    server = GatewayServer.for_gateway(Gateway(settings), "127.0.0.1", 8080)
    await server.start()
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._h1server import ASGIApp, H1Connection

if TYPE_CHECKING:
    from .app import Gateway

__all__ = ["GatewayServer", "Limits"]

log = logging.getLogger("jotgate.gateway")

# How often deadlines are checked: they fire up to this late.
_SWEEP_INTERVAL: Final = 0.5


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may send and how long it may take."""

    max_target: int = 8 * 1024
    """Longest request target (path and query), bytes: 414 beyond."""
    max_header_bytes: int = 64 * 1024
    """All header names and values together, bytes: 431 beyond."""
    max_headers: int = 100
    """Most header lines: 431 beyond."""
    keep_alive: float = 5.0
    """An idle connection between requests is closed after this (seconds)."""
    head_timeout: float = 10.0
    """A request head must arrive whole within this once it began (seconds)."""
    read_timeout: float = 60.0
    """Longest wait for more of a request body, or for a client to take the answer."""


class GatewayServer:
    """An HTTP/1.1 server for one ASGI app (the gateway), on the running event loop."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        limits: Limits | None = None,
        startup: Callable[[], Awaitable[None]] | None = None,
        shutdown: Callable[[], Awaitable[None]] | None = None,
        graceful_timeout: float = 10.0,
        access_log: bool = False,
        backlog: int = 2048,
    ) -> None:
        """Serve ``app`` on ``host``:``port`` (port 0: any free one).

        ``startup``/``shutdown`` run before listening and after the last
        request (the gateway's lifespan); ``access_log`` logs each answer
        at debug level.
        """
        self.app = app
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self.access_log = access_log
        self.connections: set[H1Connection] = set()
        self._startup = startup
        self._shutdown = shutdown
        self._graceful_timeout = graceful_timeout
        self._backlog = backlog
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: list[H1Connection] = []  # connections with writes held

    @classmethod
    def for_gateway(cls, gateway: Gateway, host: str, port: int, **options: Any) -> GatewayServer:
        """A server for ``gateway`` that runs its startup and shutdown.

        Requests go to :meth:`Gateway.http <jotgate.gateway.Gateway.http>`,
        the ASGI app's own handler of ``http`` scopes.
        """
        return cls(
            gateway.http, host, port, startup=gateway.startup, shutdown=gateway.shutdown, **options
        )

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on (set by :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("GatewayServer.start() was not called")
        return self._loop

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs listened on."""
        if self._server is None:
            return []
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    async def start(self) -> None:
        """Start the app, then listen."""
        self._loop = asyncio.get_running_loop()
        if self._startup is not None:
            await self._startup()
        self._server = await self._loop.create_server(
            lambda: H1Connection(self), self.host, self.port, backlog=self._backlog
        )
        self._sweeper = self._loop.create_task(self._sweep())

    def run(self, request: Coroutine[Any, Any, None]) -> None:
        """Serve one request in its own task (kept until done, for a graceful stop)."""
        task = self.loop.create_task(request)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def defer_flush(self, conn: H1Connection) -> None:
        """Write ``conn``'s held data once the loop's current round of callbacks is done."""
        dirty = self._dirty
        dirty.append(conn)
        if len(dirty) == 1:
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    async def _sweep(self) -> None:
        loop = self.loop
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL)
            now = loop.time()
            for conn in list(self.connections):
                if conn.deadline <= now:
                    conn.expire(now)

    async def stop(self) -> None:
        """Stop listening, finish the requests in flight (bounded), stop the app."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self._graceful_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d requests cut short at shutdown", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        for conn in list(self.connections):
            conn.shutdown()
            if conn.transport is not None:
                conn.transport.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._shutdown is not None:
            await self._shutdown()
