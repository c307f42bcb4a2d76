"""RemoteKeySet when the key server fails: down, garbage, oversized, redirecting, slow."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from jotgate import errors, jwt
from jotgate.jwks import RemoteKeySet

from .conftest import SIGNERS, FakeClock, JwksServer, jwks_body, token_for, wait_until

MakeRemote = Callable[..., RemoteKeySet]
GOOD = jwks_body("k1")

# (status, content type, body, extra headers): each must count as a failed fetch.
Reply = tuple[int, str, bytes, dict[str, str]]
GARBAGE: dict[str, Reply] = {
    "not JSON": (200, "application/json", b"{not json", {}),
    "HTML": (200, "text/html", b"<html><body>Sign in</body></html>", {}),
    "a JWKS labelled HTML": (200, "text/html; charset=utf-8", GOOD, {}),
    "a JWKS labelled text": (200, "text/plain", GOOD, {}),
    "status 500": (500, "application/json", GOOD, {}),
    "status 404": (404, "application/json", GOOD, {}),
    "status 203": (203, "application/json", GOOD, {}),
    "a JSON array": (200, "application/json", b"[]", {}),
    "keys not an array": (200, "application/json", b'{"keys": "k1"}', {}),
    "no keys member": (200, "application/json", b'{"error": "maintenance"}', {}),
    "an empty key set": (200, "application/json", b'{"keys": []}', {}),
    "only broken keys": (200, "application/json", b'{"keys": [{"kty": "EC"}, 7, null]}', {}),
    "duplicate names": (200, "application/json", b'{"keys": [], "keys": ' + GOOD[9:], {}),
    "duplicate kids": (
        200,
        "application/json",
        json.dumps(
            {"keys": [SIGNERS["k1"].to_jwk(), {**SIGNERS["k2"].to_jwk(), "kid": "k1"}]}
        ).encode(),
        {},
    ),
    "invalid UTF-8": (200, "application/json", b'{"keys": ["\xff"]}', {}),
    "gzip": (200, "application/json", gzip.compress(GOOD), {"Content-Encoding": "gzip"}),
}


def because(failure: pytest.ExceptionInfo[errors.KeyNotFoundError]) -> str:
    """Why the fetch failed: kept as the cause, out of the client-facing message."""
    assert str(failure.value) == "the remote key set could not be fetched"
    return str(failure.value.__cause__)


def serve(server: JwksServer, reply: Reply) -> None:
    server.status, server.content_type, server.body, server.headers = reply


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_is_a_failed_fetch_without_keys(
    server: JwksServer, remote: RemoteKeySet, case: str
) -> None:
    serve(server, GARBAGE[case])
    with pytest.raises(errors.KeyNotFoundError, match="could not be fetched"):
        remote.get_sync("k1")
    with pytest.raises(errors.KeyNotFoundError):
        jwt.decode(token_for("k1"), remote, algorithms=["ES256"])
    assert server.hits["/jwks.json"] == 1  # and no retry before the cooldown


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_keeps_the_last_good_keys(
    server: JwksServer,
    remote: RemoteKeySet,
    clock: FakeClock,
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    remote.get_sync()
    serve(server, GARBAGE[case])
    clock.advance(600)
    with caplog.at_level(logging.WARNING, logger="jotgate.jwks"):
        claims = jwt.decode(token_for("k1"), remote, algorithms=["ES256"])
    assert claims["sub"] == "user-1"
    assert server.hits["/jwks.json"] == 2
    assert "keeping the 1 last good keys" in caplog.text
    assert server.url in caplog.text


def test_one_bad_key_does_not_hide_the_good_ones(server: JwksServer, remote: RemoteKeySet) -> None:
    weak_rsa = {"kty": "RSA", "kid": "weak", "n": "AQAB", "e": "AQAB"}
    server.body = json.dumps(
        {"keys": [weak_rsa, {"kty": "unknown"}, SIGNERS["k2"].to_jwk()]}
    ).encode()
    assert [key.kid for key in remote.get_sync()] == ["k2"]


def test_server_down_keeps_verifying_with_the_last_good_keys(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_for("k1")
    assert jwt.decode(token, remote, algorithms=["ES256"])["sub"] == "user-1"
    server.stop()
    for _ in range(5):
        clock.advance(600)
        with caplog.at_level(logging.WARNING, logger="jotgate.jwks"):
            assert jwt.decode(token, remote, algorithms=["ES256"])["sub"] == "user-1"
            assert asyncio.run(remote.get("k1")).get("k1") is not None
    assert caplog.text.count("keeping the 1 last good keys") == 5
    assert token not in caplog.text


def test_failed_refresh_is_retried_at_most_once_per_cooldown(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    remote.get_sync()
    server.status = 503
    clock.advance(600)
    for _ in range(29):
        remote.get_sync("k1")
        clock.advance(1)
    assert server.hits["/jwks.json"] == 2
    with pytest.raises(errors.KeyNotFoundError):
        remote.get_sync("k9")  # unknown kid: still inside the cooldown
    assert server.hits["/jwks.json"] == 2
    clock.advance(1)
    remote.get_sync("k1")
    assert server.hits["/jwks.json"] == 3
    server.status, server.kids = 200, ("k2",)
    clock.advance(30)
    assert [key.kid for key in remote.get_sync()] == ["k2"]  # recovered
    assert server.hits["/jwks.json"] == 4


def test_first_fetch_failure_is_retried_within_a_second_not_a_cooldown(
    server: JwksServer, remote: RemoteKeySet, clock: FakeClock
) -> None:
    # A verifier that starts before its key server must not refuse every
    # token for a whole cooldown once the server is up.
    server.status = 500
    with pytest.raises(errors.KeyNotFoundError) as failure:
        remote.get_sync("k1")
    assert because(failure) == "HTTP status 500"
    clock.advance(0.5)
    with pytest.raises(errors.KeyNotFoundError):
        asyncio.run(remote.get("k1"))
    assert server.hits["/jwks.json"] == 1
    clock.advance(0.5)
    with pytest.raises(errors.KeyNotFoundError):
        remote.get_sync("k1")
    assert server.hits["/jwks.json"] == 2
    server.status = 200
    clock.advance(1)
    assert asyncio.run(remote.get("k1")).get("k1") is not None
    assert server.hits["/jwks.json"] == 3


# -- size cap ---------------------------------------------------------------

PADDED = GOOD + b" " * 10_000  # valid JSON of about 10 KB


def honest(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(PADDED)))
    handler.end_headers()
    handler.wfile.write(PADDED)


def without_length(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)  # HTTP/1.0: the body ends when the connection closes
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    handler.wfile.write(PADDED)


def lying_length(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    handler.wfile.write(PADDED)


def chunked(handler: BaseHTTPRequestHandler) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    handler.wfile.write(head + b"Connection: close\r\n\r\n")
    for start in range(0, len(PADDED), 1000):
        part = PADDED[start : start + 1000]
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
    handler.wfile.write(b"0\r\n\r\n")


@pytest.mark.parametrize("respond", [honest, without_length, lying_length, chunked])
@pytest.mark.parametrize("use_async", [False, True])
def test_bodies_over_the_cap_are_refused(
    server: JwksServer,
    make_remote: MakeRemote,
    respond: Callable[[BaseHTTPRequestHandler], None],
    use_async: bool,
) -> None:
    server.respond = respond
    capped = make_remote(max_bytes=4096)
    with pytest.raises(errors.KeyNotFoundError):
        asyncio.run(capped.get("k1")) if use_async else capped.get_sync("k1")
    if respond is not lying_length:  # the same body under a larger cap is fine
        assert make_remote(max_bytes=20_000).get_sync("k1").get("k1") is not None


def test_a_huge_body_is_not_read_to_the_end(server: JwksServer, make_remote: MakeRemote) -> None:
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        total = 0
        try:
            handler.wfile.write(GOOD[:-2])
            while total < 200 * 1024 * 1024 and not server.stopping.is_set():
                handler.wfile.write(b" " * 65536)
                total += 65536
        except OSError:
            pass  # the client hung up: what we want
        sent.append(total)

    server.respond = endless
    with pytest.raises(errors.KeyNotFoundError) as failure:
        make_remote(max_bytes=64 * 1024).get_sync()
    assert "larger than 65536 bytes" in because(failure)
    wait_until(lambda: bool(sent))  # the server notices the hang-up
    assert sent[0] < 200 * 1024 * 1024


# -- redirects and timeouts --------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(server: JwksServer, remote: RemoteKeySet, status: int) -> None:
    server.status = status
    server.headers = {"Location": server.base + "/elsewhere.json"}
    with pytest.raises(errors.KeyNotFoundError) as failure:
        remote.get_sync("k1")
    assert because(failure) == f"HTTP status {status}"
    with pytest.raises(errors.KeyNotFoundError):
        asyncio.run(remote.get("k1"))
    assert server.hits["/elsewhere.json"] == 0


def test_redirects_are_not_followed_by_a_given_client_either(
    server: JwksServer, make_remote: MakeRemote
) -> None:
    server.status = 302
    server.headers = {"Location": server.base + "/elsewhere.json"}
    with httpx.Client(follow_redirects=True) as client, pytest.raises(errors.KeyNotFoundError):
        make_remote(sync_client=client).get_sync("k1")

    async def run() -> None:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            with pytest.raises(errors.KeyNotFoundError):
                await make_remote(client=client).get("k1")

    asyncio.run(run())
    assert server.hits["/elsewhere.json"] == 0


@pytest.mark.parametrize("use_async", [False, True])
def test_a_slow_server_times_out(
    server: JwksServer, make_remote: MakeRemote, use_async: bool
) -> None:
    server.delay = 30  # cut short when the fixture stops the server
    slow = make_remote(timeout=0.2)
    with pytest.raises(errors.KeyNotFoundError) as failure:
        asyncio.run(slow.get("k1")) if use_async else slow.get_sync("k1")
    assert "timed out" in because(failure)


@pytest.mark.parametrize("use_async", [False, True])
def test_a_trickling_body_times_out_as_a_whole(
    server: JwksServer, make_remote: MakeRemote, use_async: bool
) -> None:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        try:  # one byte every 20 ms for 3 s: each read is quick, the whole is not
            for _ in range(150):
                if server.stopping.wait(0.02):
                    break
                handler.wfile.write(b" ")
                handler.wfile.flush()
        except OSError:
            pass

    server.respond = trickle
    slow = make_remote(timeout=0.3)
    with pytest.raises(errors.KeyNotFoundError) as failure:
        asyncio.run(slow.get("k1")) if use_async else slow.get_sync("k1")
    assert because(failure) in ("timed out after 0.3 s", "the response took too long")


def test_a_slow_refresh_keeps_serving_the_old_keys(
    server: JwksServer, make_remote: MakeRemote, clock: FakeClock
) -> None:
    remote = make_remote(timeout=0.2)
    remote.get_sync()
    server.delay = 30
    clock.advance(600)
    assert jwt.decode(token_for("k1"), remote, algorithms=["ES256"])["sub"] == "user-1"
    assert server.hits["/jwks.json"] == 2
