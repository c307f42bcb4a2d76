"""Large bodies stream through the gateway both ways; it never holds one whole.

Two kinds of proof. In-process: the far end sees data while the near end
is still sending and waiting on it, which cannot happen if the gateway
buffers (the test would deadlock and fail at its deadline). Out of
process: a ``jotgate gateway`` subprocess moves 50 MB each way while its
peak resident memory (VmHWM) barely moves.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Served
from .servers import MB

TOTAL = 50 * MB
CHUNK = bytes(range(256)) * (MB // 256)


def _wait_until(condition: object, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def test_upload_reaches_the_upstream_while_the_client_is_still_sending(
    client: httpx.Client, upstream: Served
) -> None:
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for sent in range(1, TOTAL // MB + 1):
            digest.update(CHUNK)
            yield CHUNK
            if sent == 8:
                # Everything sent so far must arrive before we send more.
                _wait_until(lambda: upstream.app.received >= 8 * MB, "the upstream has 8 MB")

    response = client.post("/public/upload", content=body(), timeout=60)
    assert response.status_code == 200
    echo = response.json()
    assert echo["body_size"] == TOTAL
    assert echo["body_sha256"] == digest.hexdigest()
    # The upstream read it as a stream of pieces, never as one.
    assert upstream.app.largest_chunk < 4 * MB


def test_download_reaches_the_client_while_the_upstream_is_still_sending(
    client: httpx.Client, upstream: Served
) -> None:
    app = upstream.app
    app.download_gate.clear()
    app.gate_after = 8 * MB
    received = 0
    digest = hashlib.sha256()
    try:
        with client.stream("GET", f"/public/file?download={TOTAL}", timeout=60) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(TOTAL)
            for chunk in response.iter_raw():
                received += len(chunk)
                digest.update(chunk)
                if received >= 8 * MB and not app.download_gate.is_set():
                    # The upstream is parked at 8 MB: these bytes were relayed, not buffered.
                    assert app.sent == 8 * MB
                    app.download_gate.set()
    finally:
        app.download_gate.set()
    assert received == TOTAL
    expected = hashlib.sha256()
    for _ in range(TOTAL // MB):
        expected.update(CHUNK)
    assert digest.hexdigest() == expected.hexdigest()


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@pytest.fixture
def gateway_process(auth_server: Served, upstream: Served) -> Iterator[tuple[str, int]]:
    """``jotgate gateway`` as its own process (the issue's command line), stopped at the end."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read a process's peak memory")
    code = "import sys; from jotgate.cli import main; sys.exit(main())"
    argv = [sys.executable, "-c", code, "gateway", "--listen", "127.0.0.1:0",
            "--auth-server", auth_server.url, "--route", f"/api={upstream.url}",
            "--public-route", f"/public={upstream.url}", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line + (process.stderr.read() if process.poll() is not None else "")
        yield match.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_gateway_process_memory_stays_flat_moving_50_mb_each_way(
    gateway_process: tuple[str, int],
) -> None:
    url, pid = gateway_process
    with httpx.Client(base_url=url, timeout=60) as c:
        assert c.post("/public/warm-up", content=b"x" * MB).status_code == 200
        with c.stream("GET", f"/public/f?download={4 * MB}") as warm:
            for _ in warm.iter_raw():
                pass
        before = _peak_rss_kib(pid)
        up = c.post("/public/upload", content=(CHUNK for _ in range(TOTAL // MB)))
        assert up.json()["body_size"] == TOTAL
        down = 0
        with c.stream("GET", f"/public/f?download={TOTAL}") as response:
            for chunk in response.iter_raw():
                down += len(chunk)
        assert down == TOTAL
        grown_mib = (_peak_rss_kib(pid) - before) / 1024
    # 50 MB went through each way; a gateway that held either would grow by it.
    assert grown_mib < 16, f"peak memory grew by {grown_mib:.1f} MiB"


def test_clients_that_hang_up_mid_transfer_leave_the_gateway_healthy(
    gateway: Served, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    caplog.set_level(logging.WARNING)

    port = gateway.thread.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = f"POST /public/up HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n"
        sock.sendall(head.encode() + CHUNK * 2)  # then hang up, 48 MB short
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /public/f?download={TOTAL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # then hang up mid-body
    for _ in range(5):
        assert client.get("/public/after").status_code == 200
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes == [], [r.getMessage() for r in crashes]
