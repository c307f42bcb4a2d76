"""One client connection of the gateway's own HTTP/1.1 server, on ``httptools``.

An :class:`asyncio.Protocol` whose bytes go straight into ``httptools``'
request parser (llhttp, uvicorn's parser too). Each request becomes an
:class:`~jotgate.gateway._h1exchange.Exchange` served by the ASGI app in
its own task, one at a time per connection:

- keep-alive; pipelined requests wait their turn in order (reading pauses
  while one waits), so answers never overtake each other;
- the request body streams: reading pauses while a few hundred KiB wait
  unread by the app, and resumes once it has taken them;
- ``Expect: 100-continue`` is answered when the app first asks for the body;
- limits: request target (414), header count and size (431); anything
  llhttp refuses, or a target that is not ASCII, is 400; every refusal
  closes the connection;
- deadlines (checked by the server's sweeper, not a timer per request):
  an idle keep-alive connection, a request head that trickles in
  (slowloris), a body or a reader that stalls; an expired connection is
  closed, with 408 when a request head was under way;
- protocol upgrades are not served: a websocket handshake gets 403 (the
  gateway does not proxy websockets), ``CONNECT`` 400; other ``Upgrade``
  offers are ignored (RFC 9110 §7.8) and the connection closes after the
  answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import unquote

import httptools

from ._h1exchange import Exchange, error_answer

if TYPE_CHECKING:
    from .server import GatewayServer

__all__ = ["ASGIApp", "H1Connection"]

log = logging.getLogger("jotgate.gateway")

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

# Reading from the client pauses while this much request body waits for the app.
_HIGH_WATER: Final = 256 * 1024
_LOW_WATER: Final = 64 * 1024
_ASGI: Final = {"version": "3.0", "spec_version": "2.3"}
# Answers shorter than this wait for the end of the loop's round (see write()).
_WRITE_AT_ONCE: Final = 64 * 1024


class _Refused(Exception):
    """A request the server answers itself (status, message) and then closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class H1Connection(asyncio.Protocol):
    """One client connection: parser callbacks, flow control, the request queue."""

    def __init__(self, server: GatewayServer) -> None:
        """A connection of ``server`` (its app, limits and loop)."""
        self.server = server
        self.loop = server.loop
        self._app = server.app
        self._limits = server.limits
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._client: tuple[str, int] | None = None
        self._sockname: tuple[str, int] | None = None
        self._target = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._expect = False
        self._in_head = False
        self._parsing: Exchange | None = None  # the request whose body is being parsed
        self._running: Exchange | None = None  # the request the app is answering
        self._pending: list[bytes] | None = None  # written at the end of the loop's round
        self._serving = False  # whether the connection's task runs
        self._task_waits: asyncio.Future[None] | None = None  # that task's idle wait
        self._queue: deque[Exchange] = deque()  # pipelined requests, in order
        self._read_paused = False
        self._write_paused = False
        self._lost = False
        self._doomed = False  # a pipelined request was refused: close after the ones before
        self.deadline = math.inf
        self.closing = False  # the server is shutting down

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple) and len(sock) >= 2:
            self._sockname = (str(sock[0]), int(sock[1]))
        self.deadline = self.loop.time() + self._limits.head_timeout
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgraded()
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._bad_request(refused.status, str(refused))
            else:
                log.error("HTTP parser callback failed", exc_info=refused)
                self._bad_request(500, "internal error")
        except httptools.HttpParserError:
            self._bad_request(400, "malformed HTTP request")

    def eof_received(self) -> bool | None:
        return None  # half-closed clients are not served further: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake_task()  # to end
        self.server.connections.discard(self)
        if self._running is not None:
            self._running.lost()
        for waiting in self._queue:
            waiting.lost()
        self._queue.clear()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._running is not None:
            self._running.wake()

    # -- httptools callbacks -------------------------------------------------------

    def on_message_begin(self) -> None:
        self._target = b""
        self._headers = []
        self._header_bytes = 0
        self._expect = False
        self._in_head = True
        if self._running is None:
            self.deadline = self.loop.time() + self._limits.head_timeout

    def on_url(self, url: bytes) -> None:
        self._target += url
        if len(self._target) > self._limits.max_target:
            raise _Refused(414, "the request target is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        self._header_bytes += len(name) + len(value)
        if len(headers) >= self._limits.max_headers:
            raise _Refused(431, "too many request headers")
        if self._header_bytes > self._limits.max_header_bytes:
            raise _Refused(431, "the request headers are too large")
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        if parser.should_upgrade():
            return  # _upgraded() answers once the parser stops
        scope = self._scope()
        exchange = Exchange(
            self,
            scope,
            keep_alive=parser.should_keep_alive() and not self.closing,
            expect_continue=self._expect,
            http10=scope["http_version"] == "1.0",
        )
        self._parsing = exchange
        if self._running is None:
            self._start(exchange)
        else:
            self._queue.append(exchange)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        exchange = self._parsing
        if exchange is not None:
            exchange.feed(body)
            if exchange.buffered > _HIGH_WATER:
                self._pause_reading()

    def on_message_complete(self) -> None:
        exchange = self._parsing
        if exchange is not None:
            self._parsing = None
            exchange.end_body()

    # -- serving -------------------------------------------------------------------

    def _start(self, exchange: Exchange) -> None:
        self._running = exchange
        self.deadline = math.inf  # the app's own timeouts bound it now
        if self._serving:
            self._wake_task()
        else:
            self._serving = True
            self.server.run(self._serve_requests())

    def _wake_task(self) -> None:
        waiter = self._task_waits
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _serve_requests(self) -> None:
        """The connection's one task: each request in turn, then wait for the next.

        One task per connection rather than per request: creating a task
        (and registering it in asyncio's weak set of all tasks) cost more
        than waking one that waits.
        """
        while not self._lost:
            exchange = self._running
            if exchange is None:
                waiter = self._task_waits = self.loop.create_future()
                try:
                    await waiter
                finally:
                    self._task_waits = None
                continue
            # The request, inline rather than in a coroutine of its own: one
            # frame fewer to suspend and resume while the upstream answers.
            try:
                await self._app(exchange.scope, exchange.receive, exchange.send)
            except asyncio.CancelledError:
                self._close()
                raise
            except Exception:
                log.exception("the gateway failed to answer %s", exchange.scope["method"])
                if not exchange.head_sent and not self._lost:
                    self._refuse(500, "internal error")
                else:
                    self._close()  # a truncated answer must not look complete
                return
            if not exchange.complete:
                if exchange.head_sent or self._lost:
                    self._close()  # the app stopped mid-body: the client sees it truncated
                else:
                    self._refuse(500, "no response")
                return
            transport = self.transport
            if self._running is exchange or transport is None or transport.is_closing():
                return  # not answered whole, or closing: no further request

    def response_done(self, exchange: Exchange) -> None:
        """The app sent its last body message: the next request may go."""
        if self._running is not exchange:
            return
        self._running = None
        if self.server.access_log:
            scope = exchange.scope
            log.debug("%s %s -> %s", scope["method"], scope["path"], exchange.keep_alive)
        if not exchange.keep_alive or self._lost or (self._doomed and not self._queue):
            self._close()
            return
        if self._queue:
            self._start(self._queue.popleft())
            if not self._queue and self._parsing_idle():
                self._resume_reading()
            return
        self.deadline = self.loop.time() + self._limits.keep_alive
        self._resume_reading()

    def _parsing_idle(self) -> bool:
        parsing = self._parsing
        return parsing is None or parsing.buffered <= _LOW_WATER

    def body_taken(self) -> None:
        """The app took the buffered body: read from the client again."""
        if self._read_paused and not self._queue:
            self._resume_reading()

    def waiting_on_client(self, waiting: bool) -> None:
        """A request waits for the client (body, or room to write): it has a deadline then."""
        self.deadline = self.loop.time() + self._limits.read_timeout if waiting else math.inf

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the client (dropped once the client has gone).

        It is written when the event loop's current round of callbacks is
        over (:meth:`GatewayServer.defer_flush`), together with what other
        requests answered meanwhile: writing wakes the client, and a woken
        peer often takes the CPU from the gateway on the spot; one burst of
        writes per round wakes it once instead of once per answer. A large
        piece is written at once.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        pending = self._pending
        if pending is None:
            if len(data) >= _WRITE_AT_ONCE:
                transport.write(data)
                return
            self._pending = [data]
            self.server.defer_flush(self)
        else:
            pending.append(data)
            if len(data) >= _WRITE_AT_ONCE:
                self.flush()

    def flush(self) -> None:
        """Write what :meth:`write` held."""
        pending, self._pending = self._pending, None
        transport = self.transport
        if pending and transport is not None and not transport.is_closing():
            transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    async def drain(self, exchange: Exchange) -> None:
        """Wait while the client reads slower than the answer comes."""
        while self._write_paused and not exchange.disconnected:
            await exchange.wait(deadline=True)

    def expire(self, now: float) -> None:
        """The deadline passed (the sweeper calls this): close, with 408 mid-head."""
        if now < self.deadline:
            return
        self.deadline = math.inf
        if self._running is not None:
            self._running.lost()  # stalled mid-body: the app sees a disconnect
            self._close()
        elif self._in_head:
            self._refuse(408, "the request took too long to arrive")
        else:
            self._close()

    def shutdown(self) -> None:
        """The server stops: close when idle, else after the current answer."""
        self.closing = True
        if self._running is None:
            self._close()

    # -- internals -------------------------------------------------------------------

    def _upgraded(self) -> None:
        # llhttp stops at an upgrade: the bytes after it are not HTTP/1.1 any more.
        method = self._parser.get_method()
        upgrade = b""
        for name, value in self._headers:
            if name == b"upgrade":
                upgrade = value.lower()
        if method == b"CONNECT":
            self._bad_request(400, "CONNECT is not supported")
        elif b"websocket" in upgrade:
            self._bad_request(403, "websockets are not proxied")
        elif any(name in (b"content-length", b"transfer-encoding") for name, _ in self._headers):
            self._bad_request(400, "an upgrade offer with a body is not supported")
        elif self._running is not None or self._queue:
            self._bad_request(400, "an upgrade offer cannot be pipelined")
        else:
            # Served as plain HTTP/1.1 (the offer is ignored, RFC 9110 §7.8), then closed.
            self._in_head = False
            try:
                scope = self._scope()
            except _Refused as refused:
                self._bad_request(refused.status, str(refused))
                return
            exchange = Exchange(self, scope, keep_alive=False, expect_continue=False, http10=False)
            exchange.end_body()
            self._parsing = None
            self._pause_reading()
            self._start(exchange)

    def _scope(self) -> dict[str, Any]:
        """The ASGI scope of the request whose head was just parsed."""
        parser = self._parser
        try:
            url = httptools.parse_url(self._target)
            raw_path: bytes = url.path
            path = raw_path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            raise _Refused(400, "malformed request target") from None
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": parser.get_http_version(),
            "server": self._sockname,
            "client": self._client,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
        }

    def _bad_request(self, status: int, message: str) -> None:
        """A request refused while parsing: answered now, or, pipelined, closed after the others.

        Requests before it are answered first (their answers must be neither
        lost nor overtaken); then the connection closes without reading more.
        """
        if self._running is None:
            self._refuse(status, message)
            return
        self._doomed = True
        self._pause_reading()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a JSON error, then close (nothing after it is read)."""
        if self._lost or self.transport is None:
            return
        self.write(error_answer(status, message))
        self._close()

    def _close(self) -> None:
        self.flush()
        self._pause_reading()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _pause_reading(self) -> None:
        transport = self.transport
        if not self._read_paused and transport is not None and not transport.is_closing():
            self._read_paused = True
            transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._doomed:
            return  # what follows a refused request is never read
        if self._read_paused and self.transport is not None and not self._lost:
            if self.transport.is_closing():
                return
            self._read_paused = False
            self.transport.resume_reading()
