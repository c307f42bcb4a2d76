"""wrk, run as a separate process with one fixed token, and its report parsed.

wrk is the load generator because it is fast C: a Python client would spend
more CPU than the servers it measures, on the same two cores.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

__all__ = ["WrkResult", "run_wrk"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and what went wrong."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int

    @property
    def valid(self) -> bool:
        """No refused request and no socket error: the sample measures the happy path."""
        return self.requests > 0 and self.non_2xx == 0 and self.socket_errors == 0

    def line(self) -> str:
        """One console line."""
        flag = (
            "" if self.valid else f"  INVALID (non-2xx {self.non_2xx}, errors {self.socket_errors})"
        )
        return f"{self.rps:9.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms{flag}"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """The numbers out of ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rps and total and p50 and p99):
        raise RuntimeError("unexpected wrk output:\n" + output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
    )


def run_wrk(url: str, *, token: str, connections: int, seconds: float) -> WrkResult:
    """``wrk -t1`` for ``seconds`` on ``connections`` keep-alive connections, one bearer token."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    argv += ["-H", f"Authorization: Bearer {token}", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse(done.stdout)
