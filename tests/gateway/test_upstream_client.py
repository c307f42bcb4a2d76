"""The gateway's HTTP/1.1 upstream client against raw-socket upstreams.

Each upstream is a script over a real TCP connection (an asyncio server on
127.0.0.1 in its own thread), so framing the ASGI servers never produce is
tested too: chunked and close-delimited bodies, 1xx before the answer,
HEAD/204/304, keep-alive connections the upstream drops, bad bytes.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jotgate.gateway._http1 import _HIGH_WATER
from jotgate.gateway.upstream import Pool, Response, UpstreamError, UpstreamTimeout

T = TypeVar("T")
Script = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class RawServer:
    """A TCP server on 127.0.0.1: ``script(server, reader, writer, index)`` per connection."""

    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, decoded body)
        self.raw_bodies: list[bytes] = []
        self.state: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    def __enter__(self) -> RawServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls), self._loop
        )
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.script(self, reader, writer, index)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        """One request: its head and its body (chunked decoded), recorded."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = 0
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
        raw = b""
        body = b""
        if chunked:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.strip(), 16)
                data = await reader.readexactly(size + 2)
                raw += size_line + data
                body += data[:-2]
                if size == 0:
                    break
        elif length:
            body = raw = await reader.readexactly(length)
        self.requests.append((head, body))
        self.raw_bodies.append(raw)
        return head, body


LOOPS = ["asyncio", "uvloop"]
_loop_kind = ["asyncio"]


@pytest.fixture(autouse=True, params=LOOPS)
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on both loops uvicorn may pick (their transports differ)."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    _loop_kind[0] = request.param
    yield request.param
    _loop_kind[0] = "asyncio"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``coro`` on a new event loop of the kind this test runs with."""
    if _loop_kind[0] == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def pool(**overrides: Any) -> Pool:
    settings: dict[str, Any] = {"connect_timeout": 2.0, "timeout": 2.0, "max_connections": 10}
    settings.update(overrides)
    return Pool(**settings)


async def body_of(response: Response) -> bytes:
    data = response.take()
    while chunk := await response.read():
        data += chunk
    response.close()
    return data


async def serve_forever(server: RawServer, reader: Any, writer: Any, index: int) -> None:
    """Keep-alive: answer ``ok`` to every request on the connection."""
    while True:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()


@pytest.fixture
def keep_alive() -> Iterator[RawServer]:
    with RawServer(serve_forever) as server:
        yield server


def test_keep_alive_connections_are_reused(keep_alive: RawServer) -> None:
    async def main() -> list[bytes]:
        p = pool()
        bodies = []
        for _ in range(5):
            response = await p.request("GET", keep_alive.url + "/x?y=1", [(b"accept", b"*/*")])
            assert response.status == 200
            bodies.append(await body_of(response))
        assert p.idle_connections == 1
        await p.aclose()
        return bodies

    assert run(main()) == [b"ok"] * 5
    assert keep_alive.connections == 1
    head = keep_alive.requests[0][0]
    assert head.startswith(b"GET /x?y=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{keep_alive.port}\r\n".encode() in head.lower()
    assert b"accept: */*\r\n" in head


def test_concurrent_requests_open_more_connections_and_pool_them(keep_alive: RawServer) -> None:
    async def main() -> int:
        p = pool()
        responses = await asyncio.gather(*(p.request("GET", keep_alive.url, []) for _ in range(3)))
        for response in responses:
            assert await body_of(response) == b"ok"
        idle = p.idle_connections
        await p.aclose()
        return idle

    assert run(main()) == 3
    assert keep_alive.connections == 3


def test_chunked_response_arrives_piece_by_piece() -> None:
    go = threading.Event()

    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.get_running_loop().run_in_executor(None, go.wait, 5)
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        await writer.drain()
        await serve_forever(server, reader, writer, index)

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            response = await p.request("GET", server.url + "/", [])
            assert not response.complete
            # The first piece is here while the upstream still holds the rest.
            assert (response.take() or await response.read()) == b"hello"
            go.set()
            assert await body_of(response) == b" world"
            # Complete and keep-alive: the same connection serves the next one.
            assert await body_of(await p.request("GET", server.url + "/", [])) == b"ok"
            await p.aclose()

        try:
            run(main())
        finally:
            go.set()
    assert server.connections == 1


def test_close_delimited_body_ends_with_the_connection() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"the end")
        await writer.drain()

    with RawServer(script) as server:

        async def main() -> tuple[bytes, int]:
            p = pool()
            data = await body_of(await p.request("GET", server.url, []))
            idle = p.idle_connections
            await p.aclose()
            return data, idle

        assert run(main()) == (b"until the end", 0)


def test_http_10_and_connection_close_answers_are_not_pooled() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        if index == 0:
            writer.write(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.5)  # the client, not the server, must decide to drop it

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            for _ in range(2):
                assert await body_of(await p.request("GET", server.url, [])) == b"ok"
                assert p.idle_connections == 0
            await p.aclose()

        run(main())
        assert server.connections == 2


def test_informational_answers_are_skipped() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nx-final: yes\r\ncontent-length: 4\r\n\r\ndone")
        await writer.drain()
        await server.read_request(reader)
        writer.write(OK)

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            response = await p.request("POST", server.url, [(b"content-length", b"3")], b"abc")
            assert response.status == 201
            assert response.headers == [(b"x-final", b"yes"), (b"content-length", b"4")]
            assert await body_of(response) == b"done"
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            await p.aclose()

        run(main())
    assert server.connections == 1
    assert server.requests[0][1] == b"abc"


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"),
        ("HEAD", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\ncontent-length: 1000\r\netag: x\r\n\r\n"),
    ],
)
def test_answers_without_a_body_complete_at_once(method: str, answer: bytes) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(answer if len(server.requests) == 1 else OK)
            await writer.drain()

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            response = await p.request(method, server.url, [])
            assert response.complete
            assert response.take() == b""
            assert await response.read() == b""
            response.close()
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            await p.aclose()

        run(main())
    assert server.connections == 1  # the same connection served the next request


def _stale_script(answer_first: bytes = OK) -> Script:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(answer_first)
        await writer.drain()
        if index == 0:
            # Keep-alive in name only: the next request is read, then dropped unanswered.
            await reader.readuntil(b"\r\n\r\n")
            return
        while True:
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()

    return script


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("DELETE", None), ("POST", b"held whole")]
)
def test_a_dropped_keep_alive_connection_is_retried_on_a_fresh_one(
    method: str, body: bytes | None
) -> None:
    with RawServer(_stale_script()) as server:

        async def main() -> None:
            p = pool()
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            response = await p.request(method, server.url + "/again", [], body)
            assert await body_of(response) == b"ok"
            await p.aclose()

        run(main())
    assert server.connections == 2
    if body is not None:
        assert server.requests[-1][1] == body


def test_a_streamed_body_is_never_sent_twice() -> None:
    with RawServer(_stale_script()) as server:
        pulled: list[bytes] = []

        async def stream() -> AsyncIterator[bytes]:
            for part in (b"one ", b"two"):
                pulled.append(part)
                yield part

        async def main() -> None:
            p = pool()
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            with pytest.raises(UpstreamError) as caught:
                await p.request("POST", server.url, [], stream())
            assert not isinstance(caught.value, UpstreamTimeout)
            await p.aclose()

        run(main())
    assert server.connections == 1
    assert pulled == [b"one ", b"two"]


def test_a_connection_closed_while_idle_is_not_used() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        if index == 0:
            return  # closes the connection right after answering, keep-alive notwithstanding
        await serve_forever(server, reader, writer, index)

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            await asyncio.sleep(0.1)  # the FIN arrives while the connection is idle
            response = await p.request("POST", server.url, [], _one(b"streamed"))
            assert await body_of(response) == b"ok"
            await p.aclose()

        run(main())
    assert server.connections == 2
    assert server.requests[-1][1] == b"streamed"


async def _drain(response: Response) -> None:
    response.take()
    while await response.read():
        pass


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_streamed_body_without_length_goes_chunked(keep_alive: RawServer) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b""
        yield b"defgh"

    async def main() -> None:
        p = pool()
        assert await body_of(await p.request("PUT", keep_alive.url, [], parts())) == b"ok"
        assert await body_of(await p.request("POST", keep_alive.url, [], b"")) == b"ok"
        assert await body_of(await p.request("POST", keep_alive.url, [], None)) == b"ok"
        length = [(b"content-length", b"8")]
        assert await body_of(await p.request("POST", keep_alive.url, length, parts())) == b"ok"
        await p.aclose()

    run(main())
    heads = [head.lower() for head, _ in keep_alive.requests]
    assert b"transfer-encoding: chunked" in heads[0]
    assert keep_alive.raw_bodies[0] == b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"
    assert keep_alive.requests[0][1] == b"abcdefgh"
    assert keep_alive.raw_bodies[1] == b"0\r\n\r\n"
    assert b"content-length: 0" in heads[2]
    assert b"transfer-encoding" not in heads[3]
    assert keep_alive.raw_bodies[3] == b"abcdefgh"
    assert keep_alive.connections == 1


def test_refused_connection_is_an_upstream_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        p = pool()
        with pytest.raises(UpstreamError) as caught:
            await p.request("GET", f"http://127.0.0.1:{port}/", [])
        assert not isinstance(caught.value, UpstreamTimeout)

    run(main())


def test_slow_answer_and_slow_body_time_out() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        if index == 0:
            await asyncio.sleep(2)
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf ")
        await writer.drain()
        await asyncio.sleep(2)

    with RawServer(script) as server:

        async def main() -> None:
            p = pool(timeout=0.2)
            with pytest.raises(UpstreamTimeout):
                await p.request("GET", server.url, [])
            response = await p.request("GET", server.url, [])
            assert response.take() == b"half "
            with pytest.raises(UpstreamTimeout):
                await response.read()
            response.close()
            assert p.idle_connections == 0
            await p.aclose()

        run(main())


def test_each_wait_on_a_reused_connection_gets_the_whole_timeout() -> None:
    # Answers in 0.15 s, under the 0.3 s timeout, then not at all: every
    # request on the one pooled connection counts its own 0.3 s.
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        for delay in (0.15, 0.15, 0.15, 5.0):
            await server.read_request(reader)
            await asyncio.sleep(delay)
            writer.write(OK)
            await writer.drain()

    with RawServer(script) as server:

        async def main() -> None:
            p = pool(timeout=0.3)
            loop = asyncio.get_running_loop()
            for _ in range(3):
                assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            assert server.connections == 1
            started = loop.time()
            with pytest.raises(UpstreamTimeout):
                await p.request("GET", server.url, [])
            assert 0.25 <= loop.time() - started < 2.0
            await p.aclose()

        run(main())


def test_a_shorter_timeout_on_a_reused_connection_is_kept() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await server.read_request(reader)
        await asyncio.sleep(5)

    with RawServer(script) as server:

        async def main() -> None:
            p = pool(timeout=30)
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            p.timeout = 0.2  # the 30 s wait's timer is still armed on the pooled connection
            started = asyncio.get_running_loop().time()
            with pytest.raises(UpstreamTimeout):
                await p.request("GET", server.url, [])
            assert asyncio.get_running_loop().time() - started < 2.0
            await p.aclose()

        run(main())


def test_waiting_for_a_free_connection_is_bounded(keep_alive: RawServer) -> None:
    async def main() -> None:
        p = pool(max_connections=1, connect_timeout=0.2)
        held = await p.request("GET", keep_alive.url, [])
        with pytest.raises(UpstreamTimeout):
            await p.request("GET", keep_alive.url, [])
        held.close()
        assert await body_of(await p.request("GET", keep_alive.url, [])) == b"ok"
        # A request waiting for the slot gets it as soon as it is freed.
        held = await p.request("GET", keep_alive.url, [])
        waiting = asyncio.ensure_future(p.request("GET", keep_alive.url, []))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await body_of(held)
        assert await body_of(await waiting) == b"ok"
        await p.aclose()

    run(main())


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",  # then closed
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
    ],
)
def test_a_body_cut_short_is_an_error(answer: bytes) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(answer)
        await writer.drain()

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            response = await p.request("GET", server.url, [])
            with pytest.raises(UpstreamError):
                await _drain(response)
            response.close()
            assert p.idle_connections == 0

        run(main())


@pytest.mark.parametrize(
    "answer",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
        b"",  # closed without a byte (on a fresh connection: no retry)
    ],
)
def test_bad_answers_are_upstream_errors(answer: bytes) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(answer)
        await writer.drain()

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            with pytest.raises(UpstreamError) as caught:
                await p.request("GET", server.url, [])
            assert not isinstance(caught.value, UpstreamTimeout)

        run(main())
    assert server.connections == 1


def test_extra_bytes_after_an_answer_spoil_the_connection() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(OK + (b"HTTP/1.1 200 OK\r\n\r\n" if index == 0 else b""))
            await writer.drain()

    with RawServer(script) as server:

        async def main() -> None:
            p = pool()
            for _ in range(2):
                assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            await p.aclose()

        run(main())
    assert server.connections == 2


def test_an_early_answer_stops_the_upload(keep_alive: RawServer) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Too Large\r\ncontent-length: 3\r\n\r\nbig")
        await writer.drain()
        await asyncio.sleep(1)

    with RawServer(script) as server:
        sent: list[int] = []

        async def huge() -> AsyncIterator[bytes]:
            for _ in range(1000):
                sent.append(1)
                yield b"x" * 65536

        async def main() -> None:
            p = pool()
            response = await p.request(
                "POST", server.url, [(b"content-length", b"65536000")], huge()
            )
            assert response.status == 413
            assert await body_of(response) == b"big"
            assert p.idle_connections == 0
            await p.aclose()

        run(main())
        assert len(sent) < 1000


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-evil", b"a\r\nx-injected: 1")],
        [(b"x-evil", b"a\nb")],
        [(b"x-evil", b"a\rb")],
        [(b"x-evil", b"a\0b")],
        [(b"x-evil\r\nx-injected", b"1")],
    ],
)
def test_headers_that_would_break_the_request_are_refused(
    keep_alive: RawServer, headers: list[tuple[bytes, bytes]]
) -> None:
    async def main() -> None:
        p = pool()
        with pytest.raises(UpstreamError):
            await p.request("GET", keep_alive.url, headers)
        await p.aclose()

    run(main())
    assert keep_alive.connections == 0


def test_the_host_header_omits_default_ports_and_keeps_others() -> None:
    from jotgate.gateway.upstream import _origin, split_url

    assert split_url("http://h:81/a/b?q=1") == ("http://h:81", b"/a/b?q=1")
    assert split_url("http://h?q") == ("http://h", b"/?q")
    assert _origin("http://h:80").host_header == b"h"
    assert _origin("https://h:443").host_header == b"h"
    assert _origin("https://h").port == 443
    assert _origin("http://[::1]:8080").host == "::1"
    assert _origin("http://[::1]:8080").host_header == b"[::1]:8080"


def test_a_complete_answer_left_unread_does_not_stall_its_connection() -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        # Up to the pool's high-water mark (reading never pauses there, however
        # the bytes arrive), then a piece small enough to come in one read:
        # reading pauses with it, the answer now whole. (A larger last piece
        # could arrive split, pause reading before the end, and never finish.)
        length = b"%d" % (_HIGH_WATER + 100)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: " + length + b"\r\n\r\n")
        writer.write(b"a" * _HIGH_WATER)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(b"b" * 100)
        await writer.drain()
        await serve_forever(server, reader, writer, index)

    with RawServer(script) as server:

        async def main() -> None:
            p = pool(timeout=1)
            response = await p.request("GET", server.url, [])
            for _ in range(500):  # up to 5 s: a loaded machine is slow
                if response.complete:
                    break
                await asyncio.sleep(0.01)
            response.close()  # as when the client has gone: the rest is never read
            assert await body_of(await p.request("GET", server.url, [])) == b"ok"
            await p.aclose()

        run(main())


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), signed by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jotgate test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_upstreams_are_verified_and_pooled(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    with RawServer(serve_forever, tls=server_side) as server:

        async def main() -> None:
            trusting = ssl.create_default_context(cafile=str(cert))
            p = pool(ssl_context=trusting)
            for _ in range(3):
                assert await body_of(await p.request("GET", server.url + "/tls", [])) == b"ok"
            await p.aclose()
            # Not trusted by the default (certifi) bundle: refused, never sent.
            with pytest.raises(UpstreamError):
                await pool().request("GET", server.url + "/untrusted", [])

        run(main())
    assert server.connections == 1  # pooled; the refused handshake never got to the script
    assert [head.split(b" ")[1] for head, _ in server.requests] == [b"/tls"] * 3
