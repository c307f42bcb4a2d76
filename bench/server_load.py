"""Processes for ``server_bench.py``: the uvicorn server, wrk load, the raw argon2 rate.

Everything here runs in its own process, so the load generator never shares
an interpreter (or a GIL) with the server it measures, and every process
stops by itself: wrk after ``-d``, the argon2 worker after ``--seconds``, and
uvicorn is wrapped in coreutils ``timeout`` as a backstop should this parent
die before it can stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LUA", "LUA_PACED", "WrkResult", "argon2_rate", "run_wrk", "uvicorn_server"]

HERE = Path(__file__).resolve().parent

# One script for every case. Each line of the material file is one request's
# payload: an access token (mode "bearer"), a refresh token ("refresh") or a
# login body ("login"). Threads take lines in turn (stride = thread count).
# Threads that run past the end start over; refresh tokens are single-use, so
# there a wrap-around is counted in `wraps` and the parent rejects the sample.
LUA = r"""
local threads, counter = {}, 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  mode, path, stride = args[2], args[3], tonumber(args[4])
  pause = tonumber(args[5])
  idx, wraps = id, 0
end
function request()
  local line = lines[idx]
  idx = idx + stride
  if idx > #lines then
    idx = id
    if mode == "refresh" then wraps = wraps + 1 end
  end
  if mode == "bearer" then
    return wrk.format("GET", path, {["Authorization"] = "Bearer " .. line})
  elseif mode == "refresh" then
    return wrk.format("POST", path, {["Content-Type"] = "application/json"},
                      '{"refresh_token":"' .. line .. '"}')
  else
    return wrk.format("POST", path, {["Content-Type"] = "application/json"}, line)
  end
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wraps") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"wraps":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, w))
end
"""

# Only the paced probe gets a delay(): wrk then arms a timer before every request,
# which a saturating load should not pay for.
LUA_PACED = (
    LUA
    + """
function delay()
  return pause
end
"""
)


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and every kind of failure."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    wraps: int

    @property
    def valid(self) -> bool:
        """No failed request and no single-use token sent twice."""
        return self.errors == 0 and self.wraps == 0 and self.requests > 0


async def run_wrk(
    url: str,
    *,
    mode: str,
    material: Path,
    connections: int,
    seconds: float,
    script: Path,
    pause_ms: int = 0,
    threads: int = 1,
) -> WrkResult:
    """Run wrk against ``url`` (its path is the endpoint) and parse the script's summary.

    One wrk thread by default: it drives tens of thousands of requests per
    second, far above a Python server, and leaves the most CPU to the server on
    a 2-core machine. ``pause_ms`` > 0 makes each connection wait between
    requests (a light, paced probe instead of a saturating load).
    """
    path = "/" + url.split("/", 3)[3]
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
        "--",
        str(material),
        mode,
        path,
        str(threads),
        str(pause_ms),
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON ") :])
            errors = sum(d[k] for k in ("connect", "read", "write", "status", "timeout"))
            return WrkResult(
                rps=d["requests"] / (d["duration_us"] / 1e6),
                p50_ms=d["p50"] / 1000,
                p90_ms=d["p90"] / 1000,
                p99_ms=d["p99"] / 1000,
                max_ms=d["max"] / 1000,
                requests=d["requests"],
                errors=errors,
                wraps=d["wraps"],
            )
    raise RuntimeError(f"wrk printed no summary: {out.decode()[-500:]} {err.decode()[-500:]}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def uvicorn_server(
    env: Mapping[str, str], *, workers: int, lifetime_s: int, log: Path
) -> AsyncIterator[str]:
    """Serve ``server_app:create`` under uvicorn; yields the base URL once healthy.

    The command is what an operator would run for a multi-worker deployment
    (``jotgate serve`` runs exactly one worker): uvicorn with its default
    uvloop and httptools, access log off (the default ``info`` log writes one
    line per request, which would be measured too).
    """
    port = free_port()
    cmd = [
        "timeout",
        "-k",
        "10",
        str(lifetime_s),
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "server_app:create",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "5",
    ]
    with log.open("ab") as log_file:
        # Its own process group, so stopping it reaches uvicorn's worker processes too.
        proc = subprocess.Popen(
            cmd, env=dict(env), stdout=log_file, stderr=log_file, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(base, proc, log)
        yield base
    finally:
        _stop(proc)


async def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        try:
            status = await asyncio.to_thread(_get_status, base + "/healthz")
        except OSError:
            status = 0
        if status == 200:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"server not healthy within 60 s; see {log}")


def _get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:
        return int(response.status)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


async def argon2_rate(
    *, seconds: float, threads: int, time_cost: int, memory_kib: int, parallelism: int
) -> float:
    """argon2id verifications per second with the server's parameters, ``threads`` at once."""
    cmd = [
        sys.executable,
        str(HERE / "server_argon2.py"),
        f"--seconds={seconds}",
        f"--threads={threads}",
        f"--time-cost={time_cost}",
        f"--memory-kib={memory_kib}",
        f"--parallelism={parallelism}",
    ]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("server_argon2.py failed")
    return float(json.loads(out)["per_second"])
