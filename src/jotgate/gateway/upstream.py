"""A small HTTP/1.1 client for the gateway's upstream calls: pooled, streaming, on asyncio.

Why not httpx: under load its connection pool (httpcore over anyio,
scanning every pooled connection per request) took most of the gateway's
CPU while the gateway's own code took a few percent, holding it to 0.02x
of a direct call. This client does only what a reverse proxy needs, on an
:class:`asyncio.Protocol` (asyncio's loop or uvloop) whose incoming bytes
go straight into ``httptools``' response parser (llhttp, the parser
uvicorn uses for requests):

- one LIFO list of idle keep-alive connections per upstream origin
  (bounded; idle ones older than ``keepalive_expiry`` are closed, never used);
- at most ``max_connections`` requests in flight, waiting up to the connect
  timeout for a free slot (then :class:`UpstreamTimeout`);
- a pooled connection the upstream had closed meanwhile is replaced by a
  fresh one, once, and only while nothing can have been processed: no
  response byte came back and the request body was either held whole (it
  can be sent again) or not yet taken from the client;
- request bodies are sent as they come, with ``Transfer-Encoding: chunked``
  when the caller gave no ``Content-Length``; writes wait while the
  socket's buffer is full, so the client is read no faster than the
  upstream takes its bytes;
- response bodies come back piece by piece (``Content-Length``, chunked or
  until close), reading paused while a few hundred KiB wait unread; 1xx
  answers are skipped, ``HEAD``, 204 and 304 answers have no body, and a
  connection is pooled again only after a complete answer the upstream
  allowed to keep alive (not ``Connection: close``, not HTTP/1.0 without
  keep-alive, nothing unexpected after it);
- every connect, read and write wait is bounded (:class:`UpstreamTimeout`);
  refusals, resets, TLS and protocol errors are :class:`UpstreamError`;
- ``https://`` upstreams are verified against certifi's CA bundle, as
  httpx did (:func:`default_ssl_context`), unless a context is given.

Example::

    pool = Pool(connect_timeout=5, timeout=30, max_connections=100)
    response = await pool.request("GET", "http://127.0.0.1:9001/x", [(b"accept", b"*/*")])
    try:
        while chunk := await response.read():
            ...
    finally:
        response.close()
    await pool.aclose()
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ._http1 import (
    Connection,
    Headers,
    Stale,
    UpstreamError,
    UpstreamTimeout,
    encode_request_head,
    frame_chunk,
)

__all__ = [
    "Pool",
    "Response",
    "UpstreamError",
    "UpstreamTimeout",
    "default_ssl_context",
    "split_url",
]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str  # for connecting: no IPv6 brackets
    port: int
    host_header: bytes
    tls: bool


def _origin(origin: str) -> _Origin:
    parts = urlsplit(origin)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UpstreamError(f"not an http:// or https:// URL: {origin!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UpstreamError(f"bad port in {origin!r}") from exc
    netloc = parts.netloc.rpartition("@")[2]
    if parts.port == _DEFAULT_PORTS[scheme]:
        netloc = netloc.rpartition(":")[0]
    try:
        host_header = netloc.encode("ascii")
    except UnicodeEncodeError:
        host_header = parts.hostname.encode("idna")
        if parts.port and parts.port != _DEFAULT_PORTS[scheme]:
            host_header += b":%d" % parts.port
    return _Origin(scheme, parts.hostname, port, host_header, scheme == "https")


def split_url(url: str) -> tuple[str, bytes]:
    """``http://host:port`` and the request target (``/path?query``) of an absolute URL."""
    start = url.find("://")
    if start < 0:
        raise UpstreamError(f"not an absolute URL: {url!r}")
    cut = len(url)
    for mark in "/?":
        found = url.find(mark, start + 3)
        if 0 <= found < cut:
            cut = found
    target = url[cut:]
    if not target.startswith("/"):
        target = "/" + target
    return url[:cut], target.encode("latin-1")


class Response:
    """An upstream's answer: status and headers now, the body as it arrives.

    :meth:`close` (always call it) hands the connection back to the pool
    when the answer was read whole and may be kept alive, else closes it.
    """

    __slots__ = ("_conn", "_key", "_pool", "_timeout", "headers", "status")

    def __init__(
        self, conn: Connection, pool: Pool, key: str, timeout: float, request_sent: bool
    ) -> None:
        self._conn: Connection | None = conn
        self._pool = pool
        self._key = key if request_sent else ""
        self._timeout = timeout
        self.status = conn.status
        self.headers = conn.headers

    @property
    def complete(self) -> bool:
        """Whether the whole body has arrived already (:meth:`take` has it)."""
        return self._conn is None or self._conn.done

    def take(self) -> bytes:
        """The body bytes received so far (all of it when :attr:`complete`)."""
        return b"" if self._conn is None else self._conn.take()

    async def read(self) -> bytes:
        """The next piece of the body, ``b""`` at its end; raises :class:`UpstreamError`."""
        if self._conn is None:
            return b""
        return await self._conn.read(self._timeout)

    def close(self) -> None:
        """Release the connection (to the pool when it is clean), and the slot."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(conn, self._key)


class Pool:
    """Keep-alive connections to any number of upstream origins (one pool per gateway)."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        timeout: float,
        max_connections: int,
        max_idle_per_origin: int | None = None,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``timeout`` bounds each read and write; ``connect_timeout`` connects (and slot waits)."""
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_connections = max_connections
        self.max_idle = max_idle_per_origin or max_connections
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context
        self._idle: dict[str, list[Connection]] = {}
        self._origins: dict[str, _Origin] = {}
        # Kept: asyncio.get_running_loop() makes a getpid() syscall on every
        # call in Python 3.11 (twice a request here, before it was kept).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: list[Connection] = []  # connections holding a request to write
        self._busy = 0  # requests holding a slot
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def idle_connections(self) -> int:
        """Connections waiting in the pool (for tests and metrics)."""
        return sum(len(idle) for idle in self._idle.values())

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their response does."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    async def request(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes] | None = None,
        *,
        identity: bytes = b"",
    ) -> Response:
        """Send a request and return once the response's head has arrived.

        ``headers`` must not hold ``Host`` (made from ``url``) nor framing
        other than ``Content-Length``. ``body``: ``bytes`` when held whole
        (sent again if a stale connection needs a retry), an async iterator
        to stream it (exceptions it raises propagate, the connection is
        dropped), or None. ``identity``: finished header lines the caller
        has checked already (see :func:`~._http1.encode_request_head`).
        """
        key, target = split_url(url)
        return await self.request_to(key, target, method, headers, body, identity=identity)

    async def request_to(
        self,
        origin_url: str,
        target: bytes,
        method: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes] | None = None,
        *,
        identity: bytes = b"",
    ) -> Response:
        """:meth:`request` with the URL already split: ``http://host:port`` and ``/path?query``.

        For a caller that keeps the origin of each upstream (the gateway, per
        route) rather than have every request's URL parsed again.
        """
        if self._closed:
            raise UpstreamError("the upstream pool is closed")
        origin = self._origins.get(origin_url)
        if origin is None:
            origin = self._origins[origin_url] = _origin(origin_url)
        head = encode_request_head(method, target, origin.host_header, headers, body, identity)
        if self._busy < self.max_connections and not self._slot_waiters:
            self._busy += 1
        else:
            await self._wait_for_slot()
        try:
            return await self._exchange(origin_url, origin, method, head, body)
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_slot(self) -> None:
        waiter = self._running_loop().create_future()
        self._slot_waiters.append(waiter)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # handed over just too late: pass it on
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("no free upstream connection in time") from None
            raise

    def _free_slot(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self._busy -= 1

    async def _exchange(
        self,
        key: str,
        origin: _Origin,
        method: str,
        head: tuple[bytes, bool],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> Response:
        request_head, chunked = head
        pulled = False  # whether a streamed body has been touched
        fresh = False
        while True:
            conn = await self._connection(key, origin, fresh=fresh)
            conn.start(head_request=method == "HEAD")
            sent = False
            try:
                if body is None:
                    self._write_later(conn, request_head)
                    sent = True
                elif isinstance(body, bytes):
                    if chunked:
                        self._write_later(
                            conn, request_head + (frame_chunk(body) if body else b"") + b"0\r\n\r\n"
                        )
                    else:
                        self._write_later(conn, request_head + body)
                    sent = True
                else:
                    conn.write(request_head)
                    pulled = True
                    sent = await self._stream_body(conn, body, chunked)
                while not conn.head_done:  # the response's status line and headers
                    waiter = conn.head_waiter(self.timeout)
                    try:
                        await waiter
                    finally:
                        conn.stop_waiting()
            except Stale:
                conn.close()
                if pulled:
                    raise UpstreamError("the upstream closed the connection") from None
                fresh = True  # once, on a new connection (only reused ones are stale)
                continue
            except UpstreamError:
                if conn.head_done:
                    # The upstream answered before taking the whole body
                    # (413, 401...): relay that answer, then drop the connection.
                    return Response(conn, self, key, self.timeout, request_sent=False)
                conn.close()
                raise
            except BaseException:
                conn.close()
                raise
            return Response(conn, self, key, self.timeout, request_sent=sent)

    async def _stream_body(
        self, conn: Connection, body: AsyncIterator[bytes], chunked: bool
    ) -> bool:
        """Send the body; False when the upstream answered before it was all sent."""
        timeout = self.timeout
        try:
            async for chunk in body:
                if conn.done:
                    return False  # answered already: the rest is not wanted
                if chunk:
                    conn.write(frame_chunk(chunk) if chunked else chunk)
                    await conn.drain(timeout)
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
        if conn.done:
            return False
        if chunked:
            conn.write(b"0\r\n\r\n")
        await conn.drain(timeout)
        return True

    async def _connection(self, key: str, origin: _Origin, *, fresh: bool) -> Connection:
        idle = self._idle.get(key)
        if idle and not fresh:
            now = self._running_loop().time()
            while idle:
                conn = idle.pop()
                if conn.usable and now - conn.idle_since < self.keepalive_expiry:
                    conn.reused = True
                    return conn
                conn.close()
        return await self._connect(origin)

    async def _connect(self, origin: _Origin) -> Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if origin.tls:
            context = self._ssl
            if context is None:
                context = self._ssl = default_ssl_context()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context is not None else None,
                )
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {origin.host}:{origin.port} timed out") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS
            raise UpstreamError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        return protocol

    def _write_later(self, conn: Connection, data: bytes) -> None:
        """Write a whole request once the loop's current round of callbacks is done.

        Together with the other requests made meanwhile: each write wakes the
        upstream, and a woken peer often takes the CPU from the gateway on the
        spot; one burst per round wakes it once. (The caller then waits for
        the answer, so nothing is delayed that was not waiting anyway.)
        """
        if conn.write_later(data, self._batch):
            self._running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        for conn in batch:
            conn.flush()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _release(self, conn: Connection, key: str) -> None:
        self._free_slot()
        if not key or self._closed or not conn.reusable:
            conn.close()
            return
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.park(self._running_loop().time())
        idle.append(conn)


def default_ssl_context() -> ssl.SSLContext:
    """Verified TLS for ``https://`` upstreams: certifi's CA bundle when installed.

    The same trust httpx (the gateway's earlier client) had, whatever the
    environment says (it ignores ``SSL_CERT_FILE`` as httpx did with
    ``trust_env=False``); HTTP/1.1 offered by ALPN.
    """
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        context = ssl.create_default_context()
    else:
        context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context
