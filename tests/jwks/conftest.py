"""A real JWKS server on 127.0.0.1 whose keys, status, headers, body and pace each test sets."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jotgate import jwk, jwt
from jotgate.jwks import RemoteKeySet

# Generated once: the tests are about fetching, not key generation.
SIGNERS = {kid: jwk.Key.generate("ES256", kid=kid) for kid in ("k1", "k2", "k3")}

Responder = Callable[[BaseHTTPRequestHandler], None]


def token_for(kid: str, **claims: object) -> str:
    """A valid ES256 JWT signed by the test key ``kid``."""
    return jwt.encode({"sub": "user-1", **claims}, SIGNERS[kid], expires_in=3600)


def jwks_body(*kids: str) -> bytes:
    return json.dumps({"keys": [SIGNERS[k].to_jwk() for k in kids]}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-body (size cap, timeout) is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class JwksServer:
    """Serves ``/jwks.json`` as told and counts the requests per path."""

    def __init__(self) -> None:
        self.kids: tuple[str, ...] = ("k1",)
        self.status = 200
        self.content_type = "application/json"
        self.headers: dict[str, str] = {}
        self.body: bytes | None = None  # None: the JWKS of `kids`
        self.delay = 0.0  # seconds before answering (cut short at teardown)
        self.respond: Responder | None = None  # takes over the whole response
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.base + "/jwks.json"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: later fetches get a refused connection."""
        self.stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] += 1
                if server.delay:
                    server.stopping.wait(server.delay)
                if server.respond is not None:
                    server.respond(self)
                    return
                body = server.body if server.body is not None else jwks_body(*server.kids)
                self.send_response(server.status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        return Handler


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server() -> Iterator[JwksServer]:
    jwks_server = JwksServer()
    jwks_server.start()
    yield jwks_server
    jwks_server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_remote(server: JwksServer, clock: FakeClock) -> Iterator[Callable[..., RemoteKeySet]]:
    """RemoteKeySet(server.url, clock=clock, **options), closed after the test."""
    made: list[RemoteKeySet] = []

    def make(**options: object) -> RemoteKeySet:
        options.setdefault("clock", clock)
        remote = RemoteKeySet(options.pop("url", server.url), **options)  # type: ignore[arg-type]
        made.append(remote)
        return remote

    yield make
    for remote in made:
        remote.close()


@pytest.fixture
def remote(make_remote: Callable[..., RemoteKeySet]) -> RemoteKeySet:
    return make_remote()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll for a server-side effect that follows a client action."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)
