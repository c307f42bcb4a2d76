"""Real processes for the deploy tests: uvicorn servers in threads and nginx as a child.

Everything binds 127.0.0.1 on a free port. uvicorn runs in daemon threads (they
die with the test process); nginx runs in the foreground with its own prefix
directory and is told by the kernel to stop if the test process dies first, so
no test run leaves an nginx behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
T = TypeVar("T")

DEPLOY_NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
#: The two files that hold a site's addresses; every other file is used verbatim.
SITE_FILES = ("upstreams.conf", "listen.conf")


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1:<free port>, on its own event loop.

    The loop is ours (not ``asyncio.run``'s) so tests can run coroutines on it,
    e.g. ask the auth server's own token service for a token.
    """

    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan=lifespan,
            loop="asyncio",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The upstream service: echoes method, path, every header and the body it got.

    ``?status=N`` answers N instead of 200 (with a challenge of its own on a
    401), to show that the application's own refusals pass through nginx untouched.
    """
    assert scope["type"] == "http"
    received = b""
    while True:
        message = await receive()
        received += message.get("body", b"")
        if not message.get("more_body"):
            break
    query = scope["query_string"].decode()
    status = int(query.split("=", 1)[1]) if query.startswith("status=") else 200
    body = json.dumps(
        {
            "upstream": True,
            "method": scope["method"],
            "path": scope["path"],
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": received.decode("latin-1"),
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="the app itself"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header_values(echo: dict[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` (any case, any spelling with - or _) the upstream got."""
    wanted = name.lower().replace("_", "-")
    return [v for k, v in echo["headers"] if k.lower().replace("_", "-") == wanted]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nginx_binary() -> str | None:
    """The nginx executable (Debian puts it in /usr/sbin, not on every user's PATH)."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def render_site(auth: str, app: str, port: int) -> dict[str, str]:
    """The shipped site files with only their addresses replaced.

    Each substitution must hit exactly once, so a change to the shipped files
    that the tests would not follow fails loudly instead of testing a stale copy.
    """
    upstreams = (DEPLOY_NGINX / "upstreams.conf").read_text()
    for name, address in (("jotgate_auth", auth), ("app", app)):
        pattern = rf"(upstream\s+{name}\s*\{{[^}}]*?\bserver\s+)\S+;"
        upstreams, count = re.subn(pattern, rf"\g<1>{address};", upstreams)
        assert count == 1, f"upstreams.conf: expected one server line in upstream {name}"
    listen = (DEPLOY_NGINX / "listen.conf").read_text()
    listen, count = re.subn(r"(?m)^(\s*listen\s+)\S+;", rf"\g<1>127.0.0.1:{port};", listen)
    assert count == 1, "listen.conf: expected one listen line"
    return {"upstreams.conf": upstreams, "listen.conf": listen}


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the kernel sends SIGTERM to nginx's master when the
    # test process exits, even by SIGKILL; the master then stops its workers.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class Nginx:
    """The shipped deploy/nginx configuration, run by a real nginx in the foreground."""

    def __init__(self, binary: str, prefix: Path, *, auth: str, app: str) -> None:
        self.binary = binary
        self.prefix = prefix
        self.auth = auth
        self.app = app
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What nginx wrote to its error log (stderr) so far."""
        path = self.prefix / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def argv(self) -> list[str]:
        """nginx with this prefix and the config in it (add ``-t`` to only check it).

        ``-e stderr`` (nginx 1.19.5+) keeps even the start-up log off the
        package's /var/log/nginx, which only root may write.
        """
        conf = str(self.prefix / "nginx.conf")
        return [self.binary, "-e", "stderr", "-p", str(self.prefix), "-c", conf]

    def _write_config(self) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "logs").mkdir(exist_ok=True)
        for source in DEPLOY_NGINX.glob("*.conf"):
            if source.name not in SITE_FILES:
                shutil.copyfile(source, self.prefix / source.name)
        for name, text in render_site(self.auth, self.app, self.port).items():
            (self.prefix / name).write_text(text)

    def start(self) -> Nginx:
        # A free port can be taken between our check and nginx's bind; retry then.
        for _attempt in range(3):
            self.port = free_port()
            self._write_config()
            if self._spawn():
                return self
        raise RuntimeError("nginx did not start:\n" + self.log)

    def _spawn(self) -> bool:
        directives = f"daemon off; pid {self.prefix}/nginx.pid; error_log stderr warn;"
        with (self.prefix / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(
                [*self.argv(), "-g", directives],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        """Fast shutdown (SIGTERM) of the nginx we started, by its pid."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
