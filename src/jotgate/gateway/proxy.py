"""Forwarding one request to an upstream, streaming both ways over pooled connections.

The request body goes up as an async generator over ASGI ``receive`` and
the response comes back chunk by chunk (``aiter_raw``: the upstream's
``Content-Encoding`` passes through untouched), so no body is ever held
whole: uvicorn stops reading from a client whose chunks the upstream has
not yet taken, and waits for a slow client before the next chunk is read
from the upstream. Memory per request is a few chunks, whatever the size.

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

import httpx

from .headers import Headers, response_headers

__all__ = ["ClientGone", "Upstreams", "has_body", "send_json"]

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


def has_body(headers: Headers) -> bool:
    """Whether the client framed a request body (``Content-Length`` > 0 or chunked)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
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
    """One pooled ``httpx.AsyncClient`` for every upstream (made at start, closed at stop)."""

    def __init__(self, *, connect_timeout: float, timeout: float, max_connections: int) -> None:
        """Timeouts: ``connect_timeout`` to connect, ``timeout`` for each read and write."""
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the pool (bound to the running event loop)."""
        # trust_env off: an HTTP_PROXY meant for the operator's shell must not
        # silently route every upstream call through it.
        self._client = httpx.AsyncClient(
            timeout=self._timeout, limits=self._limits, follow_redirects=False, trust_env=False
        )

    async def stop(self) -> None:
        """Close every pooled connection."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def forward(
        self,
        method: str,
        url: str,
        headers: Headers,
        receive: Receive,
        send: Send,
        rid: bytes,
        *,
        body: bool,
    ) -> None:
        """Send the request to ``url`` and stream the answer back to the client.

        ``body``: whether the client sent one (see :func:`has_body`); it is
        then streamed from ``receive``.
        """
        client = self._client
        if client is None:
            raise RuntimeError("Upstreams.start() was not called (is the lifespan running?)")
        content = _request_body(receive) if body else None
        # httpx.Request rather than client.build_request: the client would add
        # its own Accept-Encoding and User-Agent, changing what the upstream
        # sends back (a gzip body the client never asked for).
        request = httpx.Request(method, url, headers=headers, content=content)
        try:
            response = await client.send(request, stream=True)
        except ClientGone:
            return
        except httpx.TimeoutException:
            await _fail(send, 504, "gateway_timeout", "the upstream did not answer in time", rid)
            return
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            log.warning("upstream %s failed: %s", request.url.host, type(exc).__name__)
            await _fail(send, 502, "bad_gateway", "the upstream could not be reached", rid)
            return
        try:
            await self._relay(response, receive, send, rid)
        finally:
            await response.aclose()

    async def _relay(
        self, response: httpx.Response, receive: Receive, send: Send, rid: bytes
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response_headers(response.headers.raw, rid),
            }
        )
        # uvicorn's send() silently drops data for a client that has gone, so
        # watch for the disconnect and stop pulling from the upstream then.
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
    async def _stream(response: httpx.Response, send: Send) -> None:
        try:
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            # Too late for a 502/504. Returning without the final message
            # makes uvicorn close the connection, so the client sees a
            # truncated body rather than a complete-looking short one.
            log.warning("upstream response broke off: %s", type(exc).__name__)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _fail(send: Send, status: int, code: str, message: str, rid: bytes) -> None:
    await send_json(send, status, {"error": code, "message": message}, [(b"x-request-id", rid)])
