"""The whole gateway (its own server, real sockets) in front of raw-socket upstreams.

What the ASGI echo upstream cannot show: chunked and close-delimited
answers, 1xx before the answer, keep-alive connections the upstream drops
between requests, bodies cut short, and the gateway under uvloop (what
``jotgate gateway`` runs on when it is installed, as in production).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jotgate.gateway import Gateway, load

from .conftest import GatewayFactory, Served
from .servers import GatewayThread, header_values
from .test_upstream_client import OK, RawServer


async def _serve(server: RawServer, reader: Any, writer: Any, answer: bytes) -> None:
    while True:
        await server.read_request(reader)
        writer.write(answer)
        await writer.drain()


def _raw_gateway(make_gateway: GatewayFactory, server: RawServer) -> Served:
    return make_gateway([], [f"/raw={server.url}"], upstream_timeout=1)


def test_a_chunked_answer_reaches_the_client_whole(make_gateway: GatewayFactory) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: t\r\n\r\n"
    )

    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await _serve(server, reader, writer, answer)

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            for _ in range(3):
                response = client.get("/raw/x")
                assert response.status_code == 200
                assert response.content == b"hello world"
                assert response.headers["content-type"] == "text/plain"
    assert server.connections == 1


def test_a_close_delimited_answer_reaches_the_client_whole(make_gateway: GatewayFactory) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nno length, ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"just the end of the connection")

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            for _ in range(2):
                response = client.get("/raw/x")
                assert response.content == b"no length, just the end of the connection"
    assert server.connections == 2


def test_continue_before_the_answer_is_not_relayed(make_gateway: GatewayFactory) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            response = client.post("/raw/x", content=b"data", headers={"Expect": "100-continue"})
            assert response.status_code == 202
            assert response.content == b"ok"
            assert client.get("/raw/y").status_code == 202
    head, body = server.requests[0]
    assert body == b"data"
    assert b"expect:" not in head.lower()  # the gateway's server answered the 100-continue
    assert server.connections == 1


def test_a_keep_alive_connection_the_upstream_dropped_is_retried(
    make_gateway: GatewayFactory,
) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        if index == 0:
            await reader.readuntil(b"\r\n\r\n")  # read the next request, drop it unanswered
            return
        await _serve(server, reader, writer, OK)

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            assert client.get("/raw/1").content == b"ok"
            assert client.get("/raw/2").content == b"ok"
            assert client.post("/raw/3", content=b"small").content == b"ok"
    assert server.connections == 2
    assert server.requests[-1][1] == b"small"


def test_head_204_and_304_answers_have_no_body(make_gateway: GatewayFactory) -> None:
    answers = {
        b"HEAD": b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n",
        b"GET /raw/204": b"HTTP/1.1 204 No Content\r\n\r\n",
        b"GET /raw/304": b"HTTP/1.1 304 Not Modified\r\netag: e1\r\n\r\n",
    }

    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        while True:
            head, _ = await server.read_request(reader)
            answer = next((a for start, a in answers.items() if head.startswith(start)), OK)
            writer.write(answer)
            await writer.drain()

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            head = client.head("/raw/x")
            assert head.status_code == 200
            assert head.headers["content-length"] == "1234"
            assert head.content == b""
            assert client.get("/raw/204").status_code == 204
            not_modified = client.get("/raw/304")
            assert not_modified.status_code == 304
            assert not_modified.headers["etag"] == "e1"
            assert client.get("/raw/after").content == b"ok"
    assert server.connections == 1


def test_an_answer_cut_short_is_cut_short_for_the_client_too(
    make_gateway: GatewayFactory,
) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        head, _ = await server.read_request(reader)
        if b"/raw/short" in head:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 1000)
            await writer.drain()
            return
        writer.write(OK)
        await _serve(server, reader, writer, OK)

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                client.get("/raw/short")
            assert client.get("/raw/fine").content == b"ok"


def test_an_upstream_that_accepts_but_never_answers_is_504(make_gateway: GatewayFactory) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        await asyncio.sleep(5)

    with RawServer(script) as server:
        gw = make_gateway([], [f"/raw={server.url}"], upstream_timeout=0.2)
        response = httpx.get(gw.url + "/raw/x", timeout=10)
        assert response.status_code == 504
        assert response.json()["error"] == "gateway_timeout"


def test_garbage_from_the_upstream_is_502(make_gateway: GatewayFactory) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        response = httpx.get(gw.url + "/raw/x")
        assert response.status_code == 502
        assert response.json()["error"] == "bad_gateway"


def test_a_chunked_upload_goes_up_chunked(make_gateway: GatewayFactory) -> None:
    async def script(server: RawServer, reader: Any, writer: Any, index: int) -> None:
        await _serve(server, reader, writer, OK)

    def parts() -> Iterator[bytes]:
        yield b"first,"
        yield b"second"

    with RawServer(script) as server:
        gw = _raw_gateway(make_gateway, server)
        with httpx.Client(base_url=gw.url) as client:
            assert client.post("/raw/x", content=parts()).content == b"ok"
            assert client.put("/raw/y", content=b"0123456789").content == b"ok"
    (chunked_head, chunked_body), (plain_head, plain_body) = server.requests
    assert b"transfer-encoding: chunked" in chunked_head.lower()
    assert chunked_body == b"first,second"
    assert b"content-length: 10" in plain_head.lower()
    assert b"transfer-encoding" not in plain_head.lower()
    assert plain_body == b"0123456789"


def test_the_gateway_on_uvloop_proxies_and_streams(auth_server: Served, upstream: Served) -> None:
    pytest.importorskip("uvloop")
    settings = load(
        None,
        {"auth_server": auth_server.url, "upstream_timeout": 5, "connect_timeout": 2},
        routes=[],
        public_routes=[f"/public={upstream.url}"],
    )
    thread = GatewayThread(Gateway(settings), loop="uvloop").start()
    try:
        with httpx.Client(base_url=thread.url, timeout=30) as client:
            for _ in range(3):
                echo = client.get("/public/x?a=1", headers={"X-End": "kept"}).json()
                assert echo["path"] == "/public/x"
                assert header_values(echo, "x-end") == ["kept"]
            big = bytes(range(256)) * 4096 * 4  # 4 MiB, chunked from the client
            echo = client.post("/public/up", content=iter([big, big])).json()
            assert echo["body_size"] == 2 * len(big)
            with client.stream("GET", "/public/f?download=3000000") as response:
                assert sum(len(c) for c in response.iter_raw()) == 3_000_000
    finally:
        thread.stop()
