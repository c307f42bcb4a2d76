"""The gateway's own HTTP/1.1 server (what ``jotgate gateway`` serves with), over raw sockets.

An echo app stands in for the gateway so each test shows one thing the
server itself does: framing, limits, pipelining, flow control, deadlines,
upgrades, failures and a graceful stop. Deadlines are made short and the
tests wait for their effect, never measure it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httptools
import pytest

from jotgate.gateway import Limits

from .servers import GatewayThread

Message = dict[str, Any]


class Echo:
    """Answers JSON: method, path, query, body size and SHA-256; records disconnects.

    ``/stream`` answers in three pieces without a length; ``/fail`` raises;
    ``/bad-header`` sends a header value with a line break; ``/slow-body``
    reads the body and answers what it received before the client left.
    """

    def __init__(self) -> None:
        self.disconnects = 0
        self.release = threading.Event()
        self.in_flight = threading.Event()

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/fail":
            raise RuntimeError("the app broke")
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for piece in (b"one,", b"two,", b"three"):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/long-stream":
            # As the gateway does: stream, and meanwhile watch for the client leaving.
            async def until_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass

            watcher = asyncio.ensure_future(until_disconnect())
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for piece in (b"a", b"b", b"c", b"d", b"e"):
                await asyncio.sleep(0.3)  # longer, all told, than the read deadline
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            watcher.cancel()
            return
        if path == "/bad-header":
            headers = [(b"x-evil", b"a\r\nset-cookie: b")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"x"})
            return
        if path == "/hold":
            self.in_flight.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        digest = hashlib.sha256()
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                return
            digest.update(message.get("body", b""))
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.dumps(
            {
                "method": scope["method"],
                "path": path,
                "query": scope["query_string"].decode(),
                "size": size,
                "sha256": digest.hexdigest(),
                "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Answer:
    """One parsed response."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.complete = False

    def json(self) -> Any:
        return json.loads(self.body)


class _Reader:
    """httptools' response parser over a socket, collecting whole answers."""

    def __init__(self, sock: socket.socket, *, head_request: bool = False) -> None:
        self.sock = sock
        self.answers: list[Answer] = []
        self.parser = httptools.HttpResponseParser(self)
        self.head_request = head_request
        self.closed = False

    def on_message_begin(self) -> None:
        self.answers.append(Answer())

    def on_header(self, name: bytes, value: bytes) -> None:
        self.answers[-1].headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.answers[-1].status = self.parser.get_status_code()
        if self.head_request:
            self.answers[-1].complete = True

    def on_body(self, body: bytes) -> None:
        self.answers[-1].body += body

    def on_message_complete(self) -> None:
        self.answers[-1].complete = True

    def read(self, count: int) -> list[Answer]:
        """Until ``count`` answers are complete or the server closes."""
        while sum(a.complete for a in self.answers) < count:
            data = self.sock.recv(65536)
            if not data:
                self.closed = True
                if self.answers and not self.answers[-1].complete:
                    self.parser.feed_data(b"")  # a close-delimited body ends here
                    self.answers[-1].complete = True
                break
            self.parser.feed_data(data)
            if self.head_request and self.answers and self.answers[-1].complete:
                break
        return [a for a in self.answers if a.complete]

    def wait_closed(self) -> bool:
        """Whether the server closes the connection (within the socket timeout)."""
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        return True


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def served(echo: Echo) -> Iterator[GatewayThread]:
    limits = Limits(
        max_target=256, max_headers=20, max_header_bytes=2048, keep_alive=0.3, head_timeout=0.3,
        read_timeout=0.5,
    )  # fmt: skip
    thread = GatewayThread(echo, limits=limits, graceful_timeout=5).start()
    yield thread
    echo.release.set()
    thread.stop()


def _wait_until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.01)


def _connect(served: GatewayThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=10)


def _exchange(served: GatewayThread, raw: bytes, count: int = 1) -> tuple[list[Answer], _Reader]:
    sock = _connect(served)
    sock.sendall(raw)
    reader = _Reader(sock)
    answers = reader.read(count)
    return answers, reader


def test_keep_alive_serves_several_requests_on_one_connection(served: GatewayThread) -> None:
    with _connect(served) as sock:
        reader = _Reader(sock)
        for n in range(3):
            sock.sendall(b"GET /n/%d?q=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (n, n))
            answer = reader.read(n + 1)[-1]
            assert answer.status == 200
            assert answer.json()["path"] == f"/n/{n}"
            assert answer.json()["query"] == f"q={n}"


def test_pipelined_requests_are_answered_in_order(served: GatewayThread) -> None:
    raw = b"".join(
        b"POST /p/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (n, n, b"x" * n)
        for n in range(1, 6)
    )
    answers, reader = _exchange(served, raw + b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n", 6)
    reader.sock.close()
    assert [a.json()["path"] for a in answers] == [f"/p/{n}" for n in range(1, 6)] + ["/last"]
    assert [a.json()["size"] for a in answers] == [1, 2, 3, 4, 5, 0]


def test_a_chunked_request_body_arrives_whole(served: GatewayThread) -> None:
    pieces = [b"hello ", b"chunked ", b"world" * 1000]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answers, reader = _exchange(served, head + framed)
    reader.sock.close()
    assert answers[0].json()["size"] == sum(map(len, pieces))
    assert answers[0].json()["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_expect_100_continue_is_answered_before_the_body(served: GatewayThread) -> None:
    with _connect(served) as sock:
        sock.sendall(
            b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"abcde")
        answer = _Reader(sock).read(1)[0]
        assert answer.status == 200
        assert answer.json()["size"] == 5


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /x HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_malformed_requests_get_400_and_the_connection_closes(
    served: GatewayThread, raw: bytes
) -> None:
    answers, reader = _exchange(served, raw)
    assert answers[0].status == 400
    assert answers[0].json()["error"] == "bad_request"
    assert answers[0].headers["connection"] == "close"
    assert reader.wait_closed()


def test_a_malformed_request_after_good_ones_lets_them_be_answered_first(
    served: GatewayThread,
) -> None:
    raw = b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n"
    answers, reader = _exchange(served, raw, 3)
    assert [a.status for a in answers] == [200, 200]
    assert [a.json()["path"] for a in answers] == ["/one", "/two"]
    assert reader.closed or reader.wait_closed()


def test_oversized_requests_are_refused(served: GatewayThread) -> None:
    long_target = b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _exchange(served, long_target)[0][0].status == 414
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(25)) + b"\r\n"
    assert _exchange(served, many)[0][0].status == 431
    large = b"GET / HTTP/1.1\r\nX-Big: " + b"v" * 3000 + b"\r\n\r\n"
    answers, reader = _exchange(served, large)
    assert answers[0].status == 431
    assert reader.wait_closed()


def test_a_request_head_that_trickles_in_gets_408(served: GatewayThread) -> None:
    with _connect(served) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")  # never finished
        reader = _Reader(sock)
        answers = reader.read(1)
        assert answers[0].status == 408
        assert reader.wait_closed()


def test_an_idle_keep_alive_connection_is_closed(served: GatewayThread) -> None:
    answers, reader = _exchange(served, b"GET /once HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answers[0].status == 200
    assert reader.wait_closed()  # nothing more sent: the keep-alive deadline passes


def test_a_stalled_request_body_ends_as_a_disconnect(served: GatewayThread, echo: Echo) -> None:
    with _connect(served) as sock:
        sock.sendall(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part")
        assert _Reader(sock).wait_closed()
    _wait_until(lambda: echo.disconnects == 1)


def test_a_client_leaving_mid_body_is_a_disconnect_and_the_server_goes_on(
    served: GatewayThread, echo: Echo
) -> None:
    with _connect(served) as sock:
        sock.sendall(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        sock.sendall(b"x" * 100_000)
    for _ in range(3):
        answers, reader = _exchange(served, b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        reader.sock.close()
        assert answers[0].status == 200
    _wait_until(lambda: echo.disconnects == 1)


def test_a_long_answer_is_not_cut_while_the_app_watches_for_a_disconnect(
    served: GatewayThread,
) -> None:
    answers, reader = _exchange(served, b"GET /long-stream HTTP/1.1\r\nHost: x\r\n\r\n")
    reader.sock.close()
    assert answers[0].body == b"abcde"  # the client read all along: no deadline applies


def test_answers_without_a_length_are_chunked_or_close_delimited(served: GatewayThread) -> None:
    answers, reader = _exchange(served, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    reader.sock.close()
    assert answers[0].headers["transfer-encoding"] == "chunked"
    assert answers[0].body == b"one,two,three"
    # HTTP/1.0 has no chunked coding: the body ends with the connection.
    answers, reader = _exchange(served, b"GET /stream HTTP/1.0\r\n\r\n")
    assert "transfer-encoding" not in answers[0].headers
    assert answers[0].body == b"one,two,three"
    assert reader.closed or reader.wait_closed()


def test_http_1_0_closes_unless_keep_alive_is_asked_for(served: GatewayThread) -> None:
    answers, reader = _exchange(served, b"GET /old HTTP/1.0\r\n\r\n")
    assert answers[0].status == 200
    assert answers[0].headers["connection"] == "close"
    assert reader.wait_closed()
    with _connect(served) as sock:
        reader = _Reader(sock)
        for n in range(2):
            sock.sendall(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            answer = reader.read(n + 1)[-1]
            assert answer.headers["connection"] == "keep-alive"


def test_head_answers_carry_no_body(served: GatewayThread) -> None:
    with _connect(served) as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
            data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"content-length:" in head.lower()
    assert rest.startswith(b"HTTP/1.1 200")  # the GET's answer follows at once


def test_websocket_handshakes_are_refused(served: GatewayThread) -> None:
    raw = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answers, reader = _exchange(served, raw)
    assert answers[0].status == 403
    assert reader.wait_closed()
    assert (
        _exchange(served, b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")[0][0].status
        == 400
    )


def test_other_upgrade_offers_are_ignored(served: GatewayThread) -> None:
    raw = b"GET /h2c HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    answers, reader = _exchange(served, raw)
    assert answers[0].status == 200
    assert answers[0].json()["path"] == "/h2c"
    assert reader.wait_closed()


def test_app_failures_are_500_and_never_a_bad_header(served: GatewayThread) -> None:
    for path in (b"/fail", b"/bad-header"):
        answers, reader = _exchange(served, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
        assert answers[0].status == 500
        assert "x-evil" not in answers[0].headers
        assert "set-cookie" not in answers[0].headers
        assert reader.wait_closed()


def test_a_graceful_stop_finishes_the_request_in_flight(echo: Echo) -> None:
    thread = GatewayThread(echo, graceful_timeout=10).start()
    port = thread.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        assert echo.in_flight.wait(10)
        stopper = threading.Thread(target=thread.stop)
        stopper.start()
        echo.release.set()
        answer = _Reader(sock).read(1)[0]
        assert answer.status == 200
        assert answer.headers["connection"] == "close"  # no further request on it
        stopper.join(15)
    with pytest.raises(ConnectionRefusedError):  # no longer listening
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
