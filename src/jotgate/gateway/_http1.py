"""The wire side of the gateway's upstream client: one HTTP/1.1 connection.

:class:`Connection` is an :class:`asyncio.Protocol` whose incoming bytes go
straight into ``httptools``' response parser; the request head and chunked
framing are written here too. Pooling, retries and the public face are in
:mod:`jotgate.gateway.upstream`.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from typing import Final, cast

import httptools

__all__ = [
    "Connection",
    "Headers",
    "Stale",
    "UpstreamError",
    "UpstreamTimeout",
    "encode_request_head",
    "frame_chunk",
]

Headers = list[tuple[bytes, bytes]]

# Reading from the upstream pauses while this much body waits unread, and
# resumes once the reader has taken it below the low mark.
_HIGH_WATER: Final = 256 * 1024
_LOW_WATER: Final = 64 * 1024
# Methods whose requests carry a body by definition: an empty one is announced.
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class UpstreamError(Exception):
    """The upstream could not be reached, broke the connection or spoke bad HTTP."""


class UpstreamTimeout(UpstreamError):
    """A connect, read or write (or the wait for a free connection slot) timed out."""


class Stale(UpstreamError):
    """A connection failed before anything could have been processed (retry is safe)."""


class Connection(asyncio.Protocol):
    """One upstream connection; also the ``httptools`` parser's callback object."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.reused = False
        self._waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._error: BaseException | None = None
        self._write_paused = False
        self._read_paused = False
        self._pending = b""  # a request held until the loop's round ends
        # The wait for a response head times out at _deadline. Its timer is
        # not made and cancelled per request (in uvloop that was ~3 µs of the
        # gateway's ~45 µs of Python per request): one timer stays armed and,
        # when it fires early (the connection has since waited anew), is set
        # again for the deadline now in force.
        self._deadline = math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf  # when the armed timer fires
        self._reset(head_request=False)
        self._parser: httptools.HttpResponseParser | None = None

    def _reset(self, *, head_request: bool) -> None:
        self._head_request = head_request
        self.got_bytes = False
        self.status = 0
        self.headers: Headers = []
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self._informational = False
        self._until_close = True
        self._garbage = False
        self._chunks: deque[bytes] = deque()
        self._buffered = 0

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.done:
            # Bytes nobody asked for: the connection cannot be trusted again.
            self._garbage = True
            self._fail(UpstreamError("unexpected data from the upstream"))
            return
        self.got_bytes = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"invalid response from the upstream: {exc}"))
        if self._buffered > _HIGH_WATER and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self._ended()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # -- httptools callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        if self.head_done:
            # A second answer to one request: never trust this connection again.
            self._garbage = True
            return
        self.headers = []
        self._until_close = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._garbage or self.head_done:
            return  # trailers (after a chunked body) are dropped, as hop-by-hop
        self.headers.append((name, value))
        if len(name) in (14, 17):
            lowered = name.lower()
            if lowered == b"content-length" or lowered == b"transfer-encoding":
                self._until_close = False

    def on_headers_complete(self) -> None:
        if self._garbage or self._parser is None:
            return
        status = self._parser.get_status_code()
        if status < 200:
            self._informational = True  # 100 Continue, 103 Early Hints: not the answer
            return
        self.status = status
        self.head_done = True
        if self._head_request or status in (204, 304):
            self._until_close = False
        if self._head_request:
            # llhttp would wait for the body Content-Length announces; there is none.
            self.done = True
            self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.done or self._garbage:
            self._garbage = True
            return
        self._chunks.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self.done or self._garbage or self._parser is None:
            return
        self.done = True
        self.keep_alive = self._parser.should_keep_alive()

    # -- internals -------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _ended(self, exc: BaseException | None = None) -> None:
        if self.head_done and not self.done and self._until_close and self._error is None:
            # A body delimited by the end of the connection has just ended.
            self.done = True
            self.keep_alive = False
        self._lost = True
        if self._error is None:
            what = "the upstream closed the connection"
            self._error = UpstreamError(f"{what} ({type(exc).__name__})" if exc else what)
        self._wake()

    async def _wait(self, timeout: float) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    # -- the client's side -------------------------------------------------------

    @property
    def usable(self) -> bool:
        transport = self.transport
        return not self._lost and transport is not None and not transport.is_closing()

    def start(self, *, head_request: bool) -> None:
        """Get ready for the next response (a fresh parser: one per request)."""
        self._reset(head_request=head_request)
        self._parser = httptools.HttpResponseParser(self)

    def park(self, now: float) -> None:
        """Idle in the pool from ``now``: any byte arriving meanwhile is unexpected.

        Without a parser every byte is; the rest of the state is reset by
        :meth:`start`, when the connection is used again.
        """
        self._parser = None
        self.idle_since = now
        if self._read_paused and self.transport is not None:
            # Complete, but the last pieces were never taken (the client left).
            self._read_paused = False
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        """Queue ``data`` (see :meth:`drain`); a lost connection raises."""
        if not self.usable:
            raise self._broken()
        assert self.transport is not None
        self.transport.write(data)

    def write_later(self, data: bytes, batch: list[Connection]) -> bool:
        """Hold a whole request for :meth:`flush` (see ``Pool``); True when ``batch`` was empty.

        A lost connection raises at once, as :meth:`write` does.
        """
        if not self.usable:
            raise self._broken()
        self._pending = data
        batch.append(self)
        return len(batch) == 1

    def flush(self) -> None:
        """Write what :meth:`write_later` held; a connection lost meanwhile fails the read."""
        data, self._pending = self._pending, b""
        if not data:
            return
        if self.usable:
            assert self.transport is not None
            self.transport.write(data)
        elif self._error is None:
            self._error = UpstreamError("the upstream closed the connection")
            self._wake()

    async def drain(self, timeout: float) -> None:
        """Wait until the socket's buffer has room (or the answer came early)."""
        while self._write_paused and not self.done:
            if not self.usable:
                raise self._broken()
            await self._wait(timeout)
        if not self.usable and not self.done:
            raise self._broken()

    def head_waiter(self, timeout: float) -> asyncio.Future[None]:
        """A future to await for more of the response head (then :meth:`stop_waiting`).

        Raises the connection's error instead when it has one. The caller
        loops ``while not conn.head_done`` and awaits the future itself: one
        coroutine frame fewer to suspend and resume on every request than a
        ``read_head()`` coroutine (and its ``_wait``) would be. The future
        fails with :class:`UpstreamTimeout` ``timeout`` seconds from now.
        """
        if self._error is not None:
            raise self._broken()
        loop = self._loop
        waiter = loop.create_future()
        self._waiter = waiter
        deadline = self._deadline = loop.time() + timeout
        if deadline < self._timer_at:  # none armed, or one too late (a shorter timeout)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(timeout, self._head_timer)
            self._timer_at = deadline
        return waiter

    def stop_waiting(self) -> None:
        """After :meth:`head_waiter`'s future is done (or abandoned)."""
        self._waiter = None
        self._deadline = math.inf

    def _head_timer(self) -> None:
        """The head wait's timer: fail the wait when its deadline has come, else wait on."""
        self._timer = None
        self._timer_at = math.inf
        deadline = self._deadline
        if deadline == math.inf:
            return  # not waiting for a head now: the next wait arms a timer again
        loop = self._loop
        left = deadline - loop.time()
        # Within a millisecond counts as due: uvloop's clock and timers tick in
        # milliseconds, and a sub-millisecond re-arm could fire before its tick.
        if left > 0.001:
            self._timer = loop.call_later(left, self._head_timer)
            self._timer_at = deadline
            return
        waiter = self._waiter
        if waiter is not None:
            _expire(waiter)

    def take(self) -> bytes:
        """Every body byte received so far."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()
        return data

    async def read(self, timeout: float) -> bytes:
        """The next piece of the body, ``b""`` once it is complete."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._read_paused and self._buffered < _LOW_WATER:
                    self._read_paused = False
                    assert self.transport is not None
                    self.transport.resume_reading()
                return chunk
            if self.done:
                return b""
            if self._error is not None:
                raise self._error
            await self._wait(timeout)

    @property
    def reusable(self) -> bool:
        return self.done and self.keep_alive and not self._garbage and self.usable

    def close(self) -> None:
        self._parser = None
        timer, self._timer = self._timer, None
        self._timer_at = math.inf
        if timer is not None:
            timer.cancel()
        if self.transport is not None:
            self.transport.close()

    def _broken(self) -> UpstreamError:
        error = self._error
        if isinstance(error, UpstreamError):
            if self.reused and not self.got_bytes and type(error) is UpstreamError:
                return Stale(str(error))
            return error
        return UpstreamError("the upstream connection broke")


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("the upstream did not answer in time"))


def frame_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_request_head(
    method: str,
    target: bytes,
    host: bytes,
    headers: Headers,
    body: bytes | AsyncIterator[bytes] | None,
    identity: bytes = b"",
) -> tuple[bytes, bool]:
    """The request line and headers, and whether the body goes chunked.

    Raises :class:`UpstreamError` rather than write a CR, LF or NUL that a
    value smuggled in (it would split the request): the head is joined once
    and its CRs and LFs counted (memchr), which must be exactly the line
    breaks put between the lines, instead of searching every value.
    ``identity``: header lines (``name: value\\r\\n`` each) the gateway made
    itself from values it checked when it made them (see
    :func:`~.headers.identity_headers`), added as they are: the same ~600
    bytes for every request with one token are not searched again.
    """
    if " " in method or 32 in target:
        raise UpstreamError("the request line cannot be written as HTTP/1.1")
    # One join of the pieces: no per-header concatenations, no second join.
    parts = [method.encode("latin-1"), b" ", target, b" HTTP/1.1\r\nhost: ", host]
    has_length = False
    for name, value in headers:
        if name == b"content-length":
            has_length = True
        parts += (b"\r\n", name, b": ", value)
    breaks = len(headers) + 2  # after the request line, before each header, at the end
    chunked = False
    if body is not None and not has_length:
        parts.append(b"\r\ntransfer-encoding: chunked")
        chunked = True
        breaks += 1
    elif body is None and not has_length and method in _BODY_METHODS:
        parts.append(b"\r\ncontent-length: 0")
        breaks += 1
    parts.append(b"\r\n")
    head = b"".join(parts)
    if head.count(b"\n") != breaks or head.count(b"\r") != breaks or 0 in head:
        raise UpstreamError("a header cannot be written as HTTP/1.1")
    return head + identity + b"\r\n", chunked
