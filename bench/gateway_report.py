"""Medians, targets, the profile summary and the gateway section of ``RESULTS.md``.

The section sits between ``<!-- gateway-bench:start -->`` and
``<!-- gateway-bench:end -->``. Writing it replaces only that span (or
appends it), so the other generators' sections stay as they are; and
``report.py`` carries every ``<!-- NAME:start/end -->`` section over when
``jose_bench.py`` rewrites the file.
"""

from __future__ import annotations

import argparse
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from gateway_wrk import WrkResult

__all__ = ["RESULTS", "Micro", "Run", "console_report", "summarize_profile", "write_section"]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- gateway-bench:start -->", "<!-- gateway-bench:end -->"

TITLES = {
    "direct": "direct to the upstream",
    "gateway": "jotgate gateway, token checked (`/api`)",
    "gateway-public": "jotgate gateway, public route (proxying only)",
    "floor-proxy": "floor: minimal Python proxy, no checks (unsafe)",
    "nginx-auth": "nginx `auth_request` -> auth server `/auth/verify`",
    "nginx-plain": "nginx, public location (proxying only)",
}
GATEWAY_MIN_RATIO = 0.5
CACHED_MAX_US = 3.0
MIDDLEWARE_MAX_RATIO = 1.2


@dataclass
class Micro:
    """One micro-benchmark row: ns per call, one value per repeat."""

    alg: str
    name: str
    ns: list[float]

    @property
    def us(self) -> float:
        """Median µs per call."""
        return statistics.median(self.ns) / 1000


@dataclass
class Run:
    """Everything one run measured."""

    command: str
    date: str
    seed: int
    duration: float
    rounds: int
    connections: int
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    machine: str = ""
    samples: dict[str, list[WrkResult]] = field(default_factory=dict)
    micro: list[Micro] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: str = ""

    @classmethod
    def begin(cls, command: str, args: argparse.Namespace, seed: int) -> Run:
        """A run starting now."""
        return cls(
            command=command,
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
            seed=seed,
            duration=args.duration,
            rounds=args.rounds,
            connections=args.connections,
            load_start=os.getloadavg(),
        )

    def versions_note(self, nginx: str | None) -> None:
        """Platform, stack versions, git state; load average at start."""
        versions = []
        for dist in ("uvicorn", "uvloop", "httptools", "httpx", "httpcore"):
            try:
                versions.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                continue
        for argv in ([nginx, "-v"] if nginx else None, ["wrk", "-v"]):
            if argv:
                done = subprocess.run(argv, capture_output=True, text=True, check=False)
                versions.append(" ".join((done.stdout + done.stderr).split()[:3]))
        git = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        self.machine = (
            f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}"
            f" {platform.release()}, Python {sys.version.split()[0]}; {', '.join(versions)};"
            f" git {git or '?'}; load average at start: "
            + ", ".join(f"{x:.2f}" for x in self.load_start)
        )

    def add(self, case: str, result: WrkResult) -> None:
        """One round's sample of ``case``."""
        self.samples.setdefault(case, []).append(result)

    def valid(self, case: str) -> list[WrkResult]:
        """Samples without refused requests or socket errors."""
        return [s for s in self.samples.get(case, []) if s.valid]

    def median(self, case: str, attr: str) -> float | None:
        """Median of ``attr`` (rps, p50_ms, p99_ms) over the valid samples."""
        xs = [getattr(s, attr) for s in self.valid(case)]
        return statistics.median(xs) if xs else None

    def ratio(self, a: str, b: str) -> float | None:
        """median rps of ``a`` / median rps of ``b``."""
        x, y = self.median(a, "rps"), self.median(b, "rps")
        return x / y if x and y else None

    def paired(self, a: str, b: str) -> tuple[float, float, float] | None:
        """Min, median, max of the same-round rps ratios a / b (both samples valid)."""
        pairs = zip(self.samples.get(a, []), self.samples.get(b, []), strict=False)
        ratios = [x.rps / y.rps for x, y in pairs if x.valid and y.valid and y.rps]
        return (min(ratios), statistics.median(ratios), max(ratios)) if ratios else None

    def micro_ratio(self, alg: str, prefix: str) -> tuple[float, float, float] | None:
        """Min, median, max over repeats of row / ``jwt.decode`` measured in the same repeat.

        Same-repeat ratios cancel the machine's slow drifts, which on a loaded
        shared machine move both numbers far more than the code does.
        """
        row = self._micro(alg, prefix)
        floor = self._micro(alg, "jwt.decode")
        if row is None or floor is None:
            return None
        ratios = [a / b for a, b in zip(row.ns, floor.ns, strict=True)]
        return min(ratios), statistics.median(ratios), max(ratios)

    def _micro(self, alg: str, prefix: str) -> Micro | None:
        return next((r for r in self.micro if r.alg == alg and r.name.startswith(prefix)), None)

    def micro_us(self, alg: str, prefix: str) -> float | None:
        """Median µs of the micro row whose name starts with ``prefix``."""
        for row in self.micro:
            if row.alg == alg and row.name.startswith(prefix):
                return row.us
        return None


def _f(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else f"{x:{spec}}"


def _rows(run: Run) -> list[list[str]]:
    rows = [["path", "req/s", "p50 ms", "p99 ms", "vs direct", "same-round min-med-max", "valid"]]
    for case, title in TITLES.items():
        if case not in run.samples:
            continue
        paired = run.paired(case, "direct") if case != "direct" else None
        rows.append(
            [
                title,
                _f(run.median(case, "rps"), ".0f"),
                _f(run.median(case, "p50_ms")),
                _f(run.median(case, "p99_ms")),
                f"{_f(run.ratio(case, 'direct'))}x",
                " / ".join(f"{x:.2f}" for x in paired) if paired else "-",
                f"{len(run.valid(case))}/{len(run.samples[case])}",
            ]
        )
    return rows


def _micro_rows(run: Run) -> list[list[str]]:
    rows = [["alg", "what", "µs per call", "vs jwt.decode, same repeat: min / median / max"]]
    for row in run.micro:
        r = run.micro_ratio(row.alg, row.name)
        rows.append(
            [row.alg, row.name, f"{row.us:.2f}", " / ".join(f"{x:.3f}" for x in r) if r else ""]
        )
    return rows


def target_lines(run: Run) -> list[str]:
    """PASS/MISS per target of the issue, with the numbers behind each."""
    lines = []
    ratio, paired = run.ratio("gateway", "direct"), run.paired("gateway", "direct")
    if ratio is None:
        lines.append("- gateway >= 0.5x direct throughput: **NOT MEASURED**")
    else:
        verdict = "PASS" if ratio >= GATEWAY_MIN_RATIO else "MISS"
        spread = f"; same-round ratios {paired[0]:.2f} - {paired[2]:.2f}" if paired else ""
        lines.append(
            f"- gateway (token checked) >= {GATEWAY_MIN_RATIO}x direct throughput:"
            f" **{verdict}** — {ratio:.2f}x{spread}"
        )
    for alg in ("ES256", "HS256"):
        hit = run.micro_us(alg, "Verifier.verify, hit")
        if hit is not None:
            verdict = "PASS" if hit <= CACHED_MAX_US else "MISS"
            lines.append(
                f"- cached verification ({alg}) <= {CACHED_MAX_US:g} µs: **{verdict}** —"
                f" {hit:.2f} µs"
            )
    for alg in ("ES256", "HS256"):
        miss = run.micro_ratio(alg, "AuthMiddleware request, miss")
        hit = run.micro_ratio(alg, "AuthMiddleware request, hit")
        if miss is not None and hit is not None:
            verdict = "PASS" if miss[1] <= MIDDLEWARE_MAX_RATIO else "MISS"
            border = (
                " (borderline: inside the range)"
                if miss[0] <= MIDDLEWARE_MAX_RATIO < miss[2]
                else ""
            )
            lines.append(
                f"- ASGI middleware per request <= {MIDDLEWARE_MAX_RATIO}x a bare `jwt.decode`"
                f" ({alg}, cache miss, the worst case): **{verdict}** — {miss[1]:.3f}x"
                f" (median of same-repeat ratios; range {miss[0]:.3f} - {miss[2]:.3f}{border});"
                f" with a cache hit {hit[1]:.3f}x"
            )
    return lines


# (label, path fragment) in the order they are tried; the first match wins.
_GROUPS = (
    ("jotgate.gateway", "jotgate/gateway/"),
    ("jotgate.middleware (verifier)", "jotgate/middleware/"),
    ("jotgate library (jwt/jws/jwk)", "jotgate/"),
    ("httpx", "/httpx/"),
    ("httpcore", "/httpcore/"),
    ("h11", "/h11/"),
    ("anyio", "/anyio/"),
    ("uvicorn", "/uvicorn/"),
    ("asyncio", "/asyncio/"),
    ("ssl/socket/selectors", "/ssl.py"),
)


def summarize_profile(path: Path, top: int = 15) -> str:
    """Own time by package and the functions with the most own time, as markdown."""
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    by_group: dict[str, float] = {}
    for (filename, _, _), v in raw.items():
        label = next((g for g, frag in _GROUPS if frag in filename), "other (builtins, C)")
        by_group[label] = by_group.get(label, 0.0) + v[2]
    lines = ["| package | share of own time |", "|---|---|"]
    for label, t in sorted(by_group.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {label} | {100 * t / total:.1f}% |")
    lines += ["", "| function | own % | cumulative % | calls |", "|---|---|---|---|"]
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, func), v in ranked:
        short = re.sub(r"^.*/(site-packages|src|lib/python3\.\d+)/", "", filename)
        lines.append(
            f"| `{short}:{line} {func}` | {100 * v[2] / total:.1f}% |"
            f" {100 * v[3] / total:.1f}% | {v[1]} |"
        )
    return "\n".join(lines)


def _md(rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return out + ["| " + " | ".join(r) + " |" for r in rows[1:]]


def _text(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def console_report(run: Run) -> str:
    """Tables and verdicts for a terminal."""
    out = ["Numbers from a shared 2-core machine: read ratios within this run.", ""]
    out += [*_text(_rows(run)), "", *_text(_micro_rows(run)), "", *target_lines(run)]
    out += [f"note: {n}" for n in run.notes]
    if run.profile:
        out += ["", "gateway profile:", run.profile]
    return "\n".join(out)


def _reading(run: Run) -> list[str]:
    """Two derived facts that say where the gateway's cost sits."""
    lines = []
    proxy, checked = run.ratio("gateway-public", "direct"), run.ratio("gateway", "gateway-public")
    if proxy is not None and checked is not None:
        where = (
            "the forwarding, not the verification, is what costs"
            if checked >= 0.85
            else "the check (verifier bookkeeping, and the identity headers it adds to every"
            " upstream request, which the upstream then parses) costs a share of its own"
        )
        lines.append(
            f"- The gateway's proxying alone (public route) keeps {proxy:.2f}x of direct;"
            f" checking the token on top keeps {checked:.2f}x of that: {where}."
        )
    nginx = run.ratio("nginx-auth", "nginx-plain")
    if nginx is not None:
        lines.append(
            f"- nginx with `auth_request` keeps {nginx:.2f}x of nginx without it: every"
            " request makes a subrequest to the auth server's `/auth/verify` (FastAPI, one"
            " worker), which then bounds the throughput."
        )
    return lines


def section(run: Run) -> str:
    """The markdown section, markers included."""
    parts = [
        START,
        "# Gateway benchmark",
        "",
        "Generated by `bench/gateway_bench.py`; re-run the command below to regenerate this"
        " section.",
        "",
        f"- Command: `{run.command}` (seed {run.seed})",
        f"- Date (UTC): {run.date}",
        f"- Machine: {run.machine}; load average at end: "
        + ", ".join(f"{x:.2f}" for x in run.load_end),
        "- **A shared 2-core machine**: wrk, the upstream, the gateway or nginx and the auth"
        " server share the two cores, and other engineers' tests ran meanwhile. Read ratios"
        " within this run, not absolute speeds.",
        "- Floor: `gateway_procs._FloorProxy`, the least a Python proxy on uvicorn does"
        " (pooled keep-alive asyncio streams, no header rules, no checks, whole bodies), under"
        " the same uvicorn setup: the yardstick for the gateway's own Python work.",
        "- Upstream: a bare ASGI app answering 13 bytes of JSON, `uvicorn` (uvloop, httptools,"
        " one worker, access log off). Gateway: the `jotgate gateway` command as an operator"
        " runs it (its own HTTP/1.1 server, `jotgate.gateway.GatewayServer`, on uvloop; one"
        " process), revocations polled from the auth server as a service client. Auth"
        " server: `jotgate.server.create_app`, SQLite, one worker. nginx: `deploy/nginx` as"
        " shipped (only its addresses replaced; access log off), `worker_processes auto`.",
        f"- Load: wrk, 1 thread, {run.connections} keep-alive connections, every request with"
        f" the same valid ES256 access token issued by the auth server; {run.duration:g} s per"
        f" case, {run.rounds} rounds, cases shuffled anew each round, 1 s warm-up per case."
        " Cell = median over rounds; latencies are wrk's (closed loop: at saturation they are"
        " mostly queueing). A sample with any non-2xx answer or socket error is left out.",
        "",
        *_md(_rows(run)),
        "",
        *_reading(run),
        "",
        "Verifier and middleware (`bench/middleware_bench.py`'s measurement, run in this"
        " process before any server started; each cell the median of"
        f" {len(run.micro[0].ns) if run.micro else 0} runs of interleaved 2 ms batches,"
        " ratios taken within a run):",
        "",
        *_md(_micro_rows(run)),
        "",
        "## Targets",
        "",
        *target_lines(run),
        "",
    ]
    if run.profile:
        parts += [
            "## Where the gateway's time goes",
            "",
            "cProfile of one gateway process (token-checked route) under the same wrk load;"
            " cProfile slows Python code down, so read shares, not times.",
            "",
            run.profile,
            "",
        ]
    if run.notes:
        parts += ["Notes:", "", *(f"- {n}" for n in run.notes), ""]
    parts.append(END)
    return "\n".join(parts) + "\n"


def write_section(path: Path, run: Run) -> None:
    """Replace this script's section of ``path`` (or append it), leaving the rest as is."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new = section(run)
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: new, text, count=1)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + new
    path.write_text(text, encoding="utf-8")
