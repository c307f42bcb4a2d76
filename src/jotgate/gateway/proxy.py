"""Forwarding one request to an upstream, streaming both ways over pooled connections.

The request body goes up as it arrives from ASGI ``receive`` and the
response comes back chunk by chunk (raw: the upstream's ``Content-Encoding``
passes through untouched), so no body is ever held whole: the server (the
gateway's own, or uvicorn) stops reading from a client whose chunks the
upstream has not yet taken, and waits for a slow client before the next
chunk is read from the upstream.
Memory per request is a few chunks, whatever the size. The HTTP/1.1 client
and its keep-alive pool are :mod:`jotgate.gateway.upstream`.

Failures before the response starts become answers: a refused or failed
connection is 502 ``bad_gateway``, a timeout 504 ``gateway_timeout``.
After the response has started there is no status left to change; the
client connection is closed so it sees an incomplete body, not a short one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from .headers import Headers, response_headers
from .upstream import Pool, Response, UpstreamError, UpstreamTimeout

__all__ = ["ClientGone", "Upstreams", "send_json"]

log = logging.getLogger("jotgate.gateway")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected while its request was being forwarded."""


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: Headers | None = None
) -> None:
    """A complete JSON answer from the gateway itself."""
    payload = json.dumps(body).encode()
    out: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    out.extend(headers or ())
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": payload})


async def _request_body(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Upstreams:
    """One keep-alive connection pool for every upstream (made at start, closed at stop)."""

    def __init__(self, *, connect_timeout: float, timeout: float, max_connections: int) -> None:
        """Timeouts: ``connect_timeout`` to connect, ``timeout`` for each read and write."""
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._max_connections = max_connections
        self._pool: Pool | None = None

    async def start(self) -> None:
        """Open the pool (bound to the running event loop)."""
        # No proxy settings are read from the environment: an HTTP_PROXY meant
        # for the operator's shell must not silently route upstream calls.
        self._pool = Pool(
            connect_timeout=self._connect_timeout,
            timeout=self._timeout,
            max_connections=self._max_connections,
        )

    async def stop(self) -> None:
        """Close every pooled connection."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()

    async def forward(
        self,
        method: str,
        origin: str,
        target: bytes,
        headers: Headers,
        receive: Receive,
        send: Send,
        rid: bytes,
        *,
        body: bool,
        identity: bytes = b"",
    ) -> None:
        """Send the request to ``origin`` (``http://host:port``) for ``target``; stream the answer.

        ``target``: the path and query, as the request line carries them.
        ``body``: whether the client sent one (see :func:`~.headers.scan_request`); it is
        then streamed from ``receive``. ``identity``: the gateway's identity
        header lines, finished (``name: value\\r\\n`` each, values already
        checked), added after ``headers``.
        """
        pool = self._pool
        if pool is None:
            raise RuntimeError("Upstreams.start() was not called (is the lifespan running?)")
        content: bytes | AsyncIterator[bytes] | None = None
        if body:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            first: bytes = message.get("body", b"")
            # A body that came in one piece is held already (and can be sent
            # again on a fresh connection); a longer one is streamed.
            content = _request_body(first, receive) if message.get("more_body") else first
        try:
            response = await pool.request_to(
                origin, target, method, headers, content, identity=identity
            )
        except ClientGone:
            return
        except UpstreamTimeout:
            await _fail(send, 504, "gateway_timeout", "the upstream did not answer in time", rid)
            return
        except UpstreamError as exc:
            log.warning("upstream %s failed: %s", _host(origin), exc)
            await _fail(send, 502, "bad_gateway", "the upstream could not be reached", rid)
            return
        try:
            start = {
                "type": "http.response.start",
                "status": response.status,
                "headers": response_headers(response.headers, rid),
            }
            if response.complete:
                # The whole (small) answer is here: free the connection first.
                data = response.take()
                response.close()
                await send(start)
                await send({"type": "http.response.body", "body": data})
                return
            await send(start)
            await self._relay(response, receive, send)
        finally:
            response.close()

    async def _relay(self, response: Response, receive: Receive, send: Send) -> None:
        # The server's send() silently drops data for a client that has gone
        # (the gateway's own and uvicorn's alike), so watch for the disconnect
        # and stop pulling from the upstream then.
        stream = asyncio.ensure_future(self._stream(response, send))
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait((stream, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, watcher):
                task.cancel()
            await asyncio.gather(stream, watcher, return_exceptions=True)
        if not stream.cancelled():
            stream.result()  # a bug in _stream should not pass silently

    @staticmethod
    async def _stream(response: Response, send: Send) -> None:
        try:
            chunk = response.take() or await response.read()
            while chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunk = await response.read()
        except UpstreamError as exc:
            # Too late for a 502/504. Returning without the final message
            # makes the server close the connection, so the client sees a
            # truncated body rather than a complete-looking short one.
            log.warning("upstream response broke off: %s", type(exc).__name__)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _host(origin: str) -> str:
    return origin.partition("://")[2]


async def _fail(send: Send, status: int, code: str, message: str, rid: bytes) -> None:
    await send_json(send, status, {"error": code, "message": message}, [(b"x-request-id", rid)])
