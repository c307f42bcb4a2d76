"""One request and its response on the gateway's own HTTP/1.1 server: ASGI ``receive``/``send``.

:class:`Exchange` holds what the connection parsed of one request (the
ASGI scope, body pieces as they arrive) and writes its response. The
response head is held until the first body message so that a whole small
answer leaves in one ``write`` (one syscall, one TCP segment); framing is
chosen then: the app's ``Content-Length``, else the length of a body that
came whole, else chunked (HTTP/1.0: until close). The head is checked for
stray CR/LF the cheap way (count the line breaks of the finished head), as
the upstream client checks its request heads. :func:`error_answer` is
the whole answer the server gives itself when it refuses a request.

The connection side (parsing, flow control, timeouts, pipelining) is
:mod:`jotgate.gateway._h1server`.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._h1server import H1Connection

__all__ = ["Exchange", "error_answer", "status_line"]

Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

_STATUS_LINES: Final = {
    int(status): b"HTTP/1.1 %d %s\r\n" % (int(status), status.phrase.encode("ascii"))
    for status in HTTPStatus
}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES: Final = frozenset({204, 304})
# The error codes of the answers the server gives itself (JSON, as the gateway's).
_ERROR_CODES: Final = {
    400: "bad_request",
    403: "forbidden",
    408: "request_timeout",
    414: "uri_too_long",
    431: "headers_too_large",
    500: "internal_error",
}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <phrase>\\r\\n`` (no phrase for codes HTTPStatus does not know)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise RuntimeError(f"invalid HTTP status {status!r}")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def error_answer(status: int, message: str) -> bytes:
    """A whole JSON error answer the server gives itself, ending the connection."""
    code = _ERROR_CODES.get(status, "bad_request")
    body = b'{"error": "%s", "message": "%s"}' % (code.encode(), message.encode())
    head = status_line(status) + (
        b"content-type: application/json\r\ncontent-length: %d\r\n"
        b"cache-control: no-store\r\nconnection: close\r\n\r\n" % len(body)
    )
    return head + body


class Exchange:
    """ASGI ``receive``/``send`` for one request; the connection feeds it body pieces."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_continue",
        "_headers",
        "_http10",
        "_no_body",
        "_request_ended",
        "_stalls",
        "_status",
        "_waiters",
        "body_done",
        "buffered",
        "chunked",
        "complete",
        "disconnected",
        "head_sent",
        "keep_alive",
        "scope",
        "started",
    )

    def __init__(
        self,
        conn: H1Connection,
        scope: dict[str, Any],
        *,
        keep_alive: bool,
        expect_continue: bool,
        http10: bool,
    ) -> None:
        """A request just parsed (head only); its body, if any, follows through :meth:`feed`."""
        self._conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self._continue = expect_continue
        self._http10 = http10
        self._no_body = scope["method"] == "HEAD"
        self._chunks: list[bytes] = []
        self.buffered = 0
        self.body_done = False
        self._request_ended = False
        self._waiters: list[asyncio.Future[None]] = []
        self._stalls = 0  # waits for the client under the connection's deadline
        self.disconnected = False
        self.started = False
        self.head_sent = False
        self.chunked = False
        self.complete = False
        self._status = 0
        self._headers: Headers = []

    # -- the connection's side ---------------------------------------------------

    def feed(self, body: bytes) -> None:
        """A piece of the request body arrived."""
        self._chunks.append(body)
        self.buffered += len(body)
        self.wake()

    def end_body(self) -> None:
        """The request body is complete."""
        self.body_done = True
        self.wake()

    def lost(self) -> None:
        """The client went away: ``receive`` answers ``http.disconnect`` from now on."""
        self.disconnected = True
        self.wake()

    def wake(self) -> None:
        """Resume every ``receive`` and ``send`` (waiting for the socket) that waits.

        An app may wait in both at once (the gateway streams an answer while
        it watches for the client leaving): each has its own future.
        """
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, *, deadline: bool) -> None:
        """Until :meth:`wake`.

        ``deadline``: the wait is for the client to send or to read (a body
        piece, room to write), so the connection's deadline for a stalled
        client runs meanwhile; not when an app only watches for a disconnect
        while it streams a long answer.
        """
        waiter = self._conn.loop.create_future()
        waiters = self._waiters
        waiters.append(waiter)
        if deadline:
            self._stalls += 1
            self._conn.waiting_on_client(True)
        try:
            await waiter
        finally:
            waiters.remove(waiter)
            if deadline:
                self._stalls -= 1
                if not self._stalls:
                    self._conn.waiting_on_client(False)

    # -- ASGI --------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next ``http.request`` piece, or ``http.disconnect``."""
        while True:
            if self.disconnected or self.complete:
                return {"type": "http.disconnect"}
            if not self._request_ended:
                if self._chunks:
                    chunks = self._chunks
                    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    chunks.clear()
                    self.buffered = 0
                    self._conn.body_taken()
                    self._request_ended = self.body_done
                    return {"type": "http.request", "body": body, "more_body": not self.body_done}
                if self.body_done:
                    self._request_ended = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                if self._continue:
                    # The client waits for this before it sends the body (RFC 9110 §10.1.1).
                    self._continue = False
                    self._conn.write(_CONTINUE)
            # Waiting for body bytes has a deadline; waiting for a disconnect has none.
            await self.wait(deadline=not self._request_ended)

    async def send(self, message: Message) -> None:
        """``http.response.start`` is held; the first body message writes it with the body."""
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started or self.complete:
                raise RuntimeError("http.response.body before start, or after the end")
            body: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            if not more:
                self.complete = True
            if self.disconnected:
                if not more:
                    self._conn.response_done(self)
                return
            head = b"" if self.head_sent else self._head(len(body), more)
            self.head_sent = True
            if self._no_body:
                data = head  # HEAD, 204, 304: whatever the app sent is not part of the answer
            elif self.chunked:
                data = head + (b"%x\r\n%b\r\n" % (len(body), body) if body else b"")
                if not more:
                    data += b"0\r\n\r\n"
            else:
                data = head + body if head else body
            if data:
                self._conn.write(data)
            if not more:
                self._conn.response_done(self)
            else:
                await self._conn.drain(self)
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self._status = message["status"]
            self._headers = message.get("headers", [])
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def _head(self, length: int, more: bool) -> bytes:
        """The status line and headers, plus framing (``length``: the first body piece's)."""
        status = self._status
        lines = [status_line(status)]
        framed = False
        for name, value in self._headers:
            if len(name) == 14 and name.lower() == b"content-length":
                framed = True
            lines.append(name + b": " + value + b"\r\n")
        if status in _NO_BODY_STATUSES or status < 200:
            self._no_body = True
        elif self._no_body or framed:
            pass  # HEAD: the headers describe the GET answer, as the app gave them
        elif not more:
            lines.append(b"content-length: %d\r\n" % length)
        else:
            if self._http10:
                self.keep_alive = False  # the body ends when the connection does
            else:
                lines.append(b"transfer-encoding: chunked\r\n")
                self.chunked = True
        if not self.body_done or self._conn.closing:
            # An unread rest of the request body cannot be skipped safely, and a
            # server shutting down takes no further request: close after this one.
            self.keep_alive = False
        if not self.keep_alive:
            lines.append(b"connection: close\r\n")
        elif self._http10:
            lines.append(b"connection: keep-alive\r\n")
        lines.append(b"\r\n")
        head = b"".join(lines)
        count = len(lines)
        if head.count(b"\n") != count or head.count(b"\r") != count or 0 in head:
            raise RuntimeError("a response header cannot be written as HTTP/1.1")
        return head
