"""The processes of ``gateway_bench.py``: upstream, auth server, gateway, nginx, wrk.

Each server is its own process (uvicorn with uvloop and httptools, access
log off, one worker; nginx as shipped in ``deploy/nginx``), bound to
127.0.0.1 on a free port, started in its own session so that stopping it
stops its children, and stopped by the bench at the end (and by the kernel
if the bench dies: PR_SET_PDEATHSIG).

The upstream and the floor proxy are served from this module
(``uvicorn --factory gateway_procs:upstream_app`` / ``floor_app``) so the
bench needs no files outside ``bench/``; the gateway is ``jotgate gateway``,
the command an operator runs (its own HTTP/1.1 server on uvloop).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEPLOY_NGINX = HERE.parent / "deploy" / "nginx"
_BODY = b'{"ok": true}\n'


# -- the apps served by uvicorn -----------------------------------------------------


async def _upstream(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
) -> None:
    # As cheap as an ASGI app gets, so the bench measures what is in front of it.
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})


def upstream_app() -> Any:
    """The trivial upstream (uvicorn ``--factory``)."""
    return _upstream


class _FloorProxy:
    """The least a Python reverse proxy on uvicorn can do: an unsafe floor, not a gateway.

    No header rules, no token check, no streaming, no error handling: the
    request head is written to a pooled keep-alive asyncio connection and
    the answer (``Content-Length`` framed, as the bench upstream's is) read
    back whole. It shows what the gateway's own Python work is measured
    against, as the JOSE bench's floors do for decoding.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        lines = [f"{scope['method']} {scope['path']} HTTP/1.1".encode()]
        lines += [name + b": " + value for name, value in scope["headers"]]
        request = b"\r\n".join(lines) + b"\r\n\r\n"
        while True:
            pooled = bool(self.idle)
            if pooled:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                # The upstream closed an idle connection (uvicorn's keep-alive
                # timeout is 5 s, shorter than a bench case): the one piece of
                # error handling every pool needs. A fresh connection failing is real.
                writer.close()
                if not pooled:
                    raise
        status_line, *header_lines = head[:-4].split(b"\r\n")
        headers = [tuple(line.split(b": ", 1)) for line in header_lines]
        length = next(int(v) for k, v in headers if k.lower() == b"content-length")
        body = await reader.readexactly(length)
        self.idle.append((reader, writer))
        status = int(status_line.split(b" ", 2)[1])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def floor_app() -> Any:
    """The floor proxy in front of ``FLOOR_UPSTREAM`` (``HOST:PORT``)."""
    host, port = os.environ["FLOOR_UPSTREAM"].rsplit(":", 1)
    return _FloorProxy(host, int(port))


def gateway_argv(
    port: int, *, auth: str, client_id: str, routes: list[str], public: list[str]
) -> list[str]:
    """``jotgate gateway`` as an operator runs it (its own server on uvloop), on ``port``.

    The client secret goes in ``JOTGATE_GATEWAY_CLIENT_SECRET``, as the CLI wants it.
    """
    code = "import sys; from jotgate.cli import main; sys.exit(main())"
    argv = [sys.executable, "-c", code, *_gateway_args(port, auth, client_id, routes, public)]
    return argv


def profiled_gateway_argv(
    stats: Path, port: int, *, auth: str, client_id: str, routes: list[str], public: list[str]
) -> list[str]:
    """:func:`gateway_argv` under cProfile, its profile written to ``stats`` at SIGTERM."""
    code = (
        "import cProfile, sys; from jotgate.cli import main;"
        "p = cProfile.Profile(); p.enable();"
        "status = main(sys.argv[2:]);"
        "p.disable(); p.dump_stats(sys.argv[1]); sys.exit(status)"
    )
    args = _gateway_args(port, auth, client_id, routes, public)
    return [sys.executable, "-c", code, str(stats), *args]


def _gateway_args(
    port: int, auth: str, client_id: str, routes: list[str], public: list[str]
) -> list[str]:
    args = ["gateway", "--listen", f"127.0.0.1:{port}", "--auth-server", auth]
    args += ["--client-id", client_id, "--log-level", "warning"]
    for route in routes:
        args += ["--route", route]
    for route in public:
        args += ["--public-route", route]
    return args


# -- processes -----------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    os.setsid()
    # PR_SET_PDEATHSIG: SIGTERM when the bench dies, even by SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Proc:
    """A started server process and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def wait_listening(self, timeout: float = 60) -> None:
        """Return once the port accepts connections; raise with the log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start:\n{tail}")

    def stop(self) -> None:
        """SIGTERM to the process group the bench made for it; SIGKILL after 10 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def spawn(name: str, argv: list[str], work: Path, env: dict[str, str], port: int) -> Proc:
    """Start ``argv`` with ``env`` added, its output in ``work/<name>.log``."""
    log = work / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=work,
            preexec_fn=_die_with_parent,
        )
    proc = Proc(name, process, port, log)
    proc.wait_listening()
    return proc


def uvicorn_argv(target: str, port: int, *, factory: bool = True) -> list[str]:
    """One uvicorn worker on 127.0.0.1:``port``, the fast loop and parser, no access log."""
    argv = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--no-access-log", "--log-level", "warning", "--app-dir", str(HERE)]
    return argv + (["--factory"] if factory else [])


def nginx_binary() -> str | None:
    """nginx (Debian installs it in /usr/sbin, not on every PATH)."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def start_nginx(binary: str, work: Path, *, auth: str, app: str) -> Proc:
    """``deploy/nginx`` as shipped, with only its two site files' addresses replaced."""
    prefix = work / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    for source in DEPLOY_NGINX.glob("*.conf"):
        shutil.copyfile(source, prefix / source.name)
    port = free_port()
    upstreams = (prefix / "upstreams.conf").read_text()
    for name, address in (("jotgate_auth", auth), ("app", app)):
        pattern = rf"(upstream\s+{name}\s*\{{[^}}]*?\bserver\s+)\S+;"
        upstreams, count = re.subn(pattern, rf"\g<1>{address};", upstreams)
        if count != 1:
            raise RuntimeError(f"deploy/nginx/upstreams.conf: no single server line in {name}")
    (prefix / "upstreams.conf").write_text(upstreams)
    listen = (prefix / "listen.conf").read_text()
    listen, count = re.subn(r"(?m)^(\s*listen\s+)\S+;", rf"\g<1>127.0.0.1:{port};", listen)
    if count != 1:
        raise RuntimeError("deploy/nginx/listen.conf: no single listen line")
    (prefix / "listen.conf").write_text(listen)
    # daemon off so the bench owns the master; no access log (wrk would fill a disk).
    directives = f"daemon off; pid {prefix}/nginx.pid; error_log stderr warn;"
    argv = [binary, "-e", "stderr", "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    text = (prefix / "nginx.conf").read_text()
    text = text.replace("http {", "http {\n    access_log off;  # bench/gateway_bench.py", 1)
    (prefix / "nginx.conf").write_text(text)
    return spawn("nginx", [*argv, "-g", directives], work, {}, port)
