"""Medians, targets, the console table and the server section of ``RESULTS.md``.

The section sits between ``<!-- server-bench:start -->`` and
``<!-- server-bench:end -->``; writing it replaces only that span (or appends
it), so the JOSE section that ``jose_bench.py`` writes stays as it is, and
``report.py`` carries this section over when it regenerates its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import random
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from server_load import WrkResult

__all__ = ["RESULTS", "Config", "Run", "console_table", "machine_note", "write_section"]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- server-bench:start -->", "<!-- server-bench:end -->"

# Keycloak's published sizing, per vCPU (the yardstick).
KEYCLOAK_REFRESH_PER_VCPU = 120
KEYCLOAK_LOGIN_PER_VCPU = 15

ROWS = (
    ("bare", "`GET /bench/bare` (ceiling)"),
    ("fastapi", "`GET /bench/fastapi` (FastAPI, no deps)"),
    ("verify", "`GET /auth/verify`"),
    ("me", "`GET /auth/me`"),
    ("refresh", "`POST /auth/refresh`"),
    ("login", "`POST /auth/login` (storm)"),
    ("idle", "verify probe, idle"),
    ("storm", "verify probe, during storm"),
)


@dataclass
class Config:
    """Samples of one (database, workers) configuration, one per round."""

    db: str
    workers: int
    samples: dict[str, list[WrkResult]] = field(default_factory=dict)
    argon2: list[float] = field(default_factory=list)
    refresh_rows: list[int] = field(default_factory=list)
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    server_log_tail: str = ""

    @property
    def name(self) -> str:
        """``sqlite, 1 worker``."""
        return f"{self.db}, {self.workers} worker{'s' if self.workers > 1 else ''}"

    def add(self, case: str, result: WrkResult) -> None:
        """Record one round's result of ``case``."""
        self.samples.setdefault(case, []).append(result)

    def valid(self, case: str) -> list[WrkResult]:
        """Samples without failed requests or reused tokens."""
        return [s for s in self.samples.get(case, []) if s.valid]

    def median(self, case: str, attr: str) -> float | None:
        """Median of ``attr`` (rps, p50_ms, p99_ms) over the valid samples."""
        xs = [getattr(s, attr) for s in self.valid(case)]
        return statistics.median(xs) if xs else None

    def ratio(self, a: str, b: str, attr: str = "rps") -> float | None:
        """median(a) / median(b) of ``attr``."""
        x, y = self.median(a, attr), self.median(b, attr)
        return x / y if x and y else None

    def paired(self, a: str, b: str, attr: str = "rps") -> tuple[float, float] | None:
        """(min, max) of the same-round ratios a / b, rounds where both were valid."""
        pairs = zip(self.samples.get(a, []), self.samples.get(b, []), strict=False)
        rs = [getattr(x, attr) / getattr(y, attr) for x, y in pairs if x.valid and y.valid]
        rs = [r for r in rs if r > 0]
        return (min(rs), max(rs)) if rs else None

    def problems(self) -> list[str]:
        """One line per sample that was left out, and why."""
        lines = []
        for case, samples in self.samples.items():
            for i, s in enumerate(samples):
                if not s.valid:
                    lines.append(
                        f"{self.name}: {case} round {i + 1} left out"
                        f" ({s.errors} failed requests, {s.wraps} token wrap-arounds)"
                    )
        return lines


@dataclass
class Target:
    """One verdict line."""

    text: str
    value: float | None
    limit: float
    higher_is_better: bool
    detail: str = ""

    @property
    def verdict(self) -> str:
        """PASS, MISS or NOT MEASURED."""
        if self.value is None:
            return "NOT MEASURED"
        ok = self.value >= self.limit if self.higher_is_better else self.value < self.limit
        return "PASS" if ok else "MISS"


@dataclass
class Run:
    """The whole run."""

    command: str
    seed: int
    rng: random.Random
    args: dict[str, Any]
    machine: str = ""
    settings_note: str = ""
    configs: list[Config] = field(default_factory=list)
    minutes: float = 0.0
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M"))


def targets(c: Config) -> list[Target]:
    """The issue's three targets for one configuration."""
    out = []
    for case, limit in (("verify", 0.70), ("refresh", 0.35)):
        r, p = c.ratio(case, "bare"), c.paired(case, "bare")
        detail = f"same-round ratios {p[0]:.2f}-{p[1]:.2f}" if p else ""
        out.append(Target(f"`{case}` >= {limit:.2f}x bare req/s", r, limit, True, detail))
    r = c.ratio("storm", "idle", "p99_ms")
    idle, storm = c.median("idle", "p99_ms"), c.median("storm", "p99_ms")
    detail = f"p99 {_f(storm)} ms under the storm vs {_f(idle)} ms idle" if r else ""
    out.append(Target("verify p99 during a login storm < 5x idle p99", r, 5.0, False, detail))
    return out


def _f(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else f"{x:{spec}}"


def _rps(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def _rows(c: Config) -> list[list[str]]:
    rows = [["case", "req/s", "p50 ms", "p99 ms", "x bare req/s", "rounds"]]
    for case, title in ROWS:
        ratio = c.ratio(case, "bare") if case not in ("idle", "storm") else None
        rows.append(
            [
                title,
                _rps(c.median(case, "rps")),
                _f(c.median(case, "p50_ms")),
                _f(c.median(case, "p99_ms")),
                f"{ratio:.2f}x" if ratio else "",
                f"{len(c.valid(case))}/{len(c.samples.get(case, []))}",
            ]
        )
    argon2 = statistics.median(c.argon2) if c.argon2 else None
    rows.append(["raw argon2id verify, all cores", _rps(argon2), "", "", "", str(len(c.argon2))])
    return rows


def _facts(c: Config, cores: int) -> list[str]:
    argon2 = statistics.median(c.argon2) if c.argon2 else None
    login, refresh = c.median("login", "rps"), c.median("refresh", "rps")
    lines = []
    if login and argon2:
        lines.append(
            f"logins/s = {login / argon2:.2f}x the raw argon2id rate measured in the same"
            f" rounds ({_rps(login)} vs {_rps(argon2)}/s)"
        )
    if refresh:
        per_core = refresh / cores
        lines.append(
            f"refresh: {per_core:,.0f}/s per core = {per_core / KEYCLOAK_REFRESH_PER_VCPU:.1f}x"
            f" Keycloak's {KEYCLOAK_REFRESH_PER_VCPU}/s per vCPU"
            f" (refresh_tokens table: {_table_rows(c)} rows when measured)"
        )
    if login:
        per_core = login / cores
        lines.append(
            f"login: {per_core:.1f}/s per core = {per_core / KEYCLOAK_LOGIN_PER_VCPU:.1f}x"
            f" Keycloak's {KEYCLOAK_LOGIN_PER_VCPU}/s per vCPU"
        )
    lines.append(
        "load average at start / end: "
        + " / ".join(", ".join(f"{x:.2f}" for x in la) for la in (c.load_start, c.load_end))
    )
    return lines


def _table_rows(c: Config) -> str:
    if not c.refresh_rows:
        return "n/a"
    return f"{min(c.refresh_rows):,}-{max(c.refresh_rows):,}"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _text_table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]


def _md_table(rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return out + ["| " + " | ".join(r) + " |" for r in rows[1:]]


def _target_lines(c: Config) -> list[str]:
    return [
        f"- {t.text}: **{t.verdict}** — {_f(t.value, '.2f')}x"
        + (f"; {t.detail}" if t.detail else "")
        for t in targets(c)
    ]


def console_table(run: Run) -> str:
    """Every configuration's table, facts and verdicts, for a terminal."""
    out = ["Numbers from a shared 2-core machine: compare ratios within a configuration.", ""]
    for c in run.configs:
        out += [f"== {c.name}", *_text_table(_rows(c)), ""]
        out += [f"  {line}" for line in _facts(c, _cores())]
        out += [*_target_lines(c), ""]
        out += [f"  ! {p}" for p in c.problems()]
    return "\n".join(out)


def section(run: Run) -> str:
    """The markdown section, markers included."""
    a = run.args
    parts = [
        START,
        "# Auth server load benchmark",
        "",
        "Generated by `bench/server_bench.py`; re-run the command below to regenerate this"
        " section (the JOSE results above are `bench/jose_bench.py`'s).",
        "",
        f"- Command: `{run.command}` (seed {run.seed}; {run.minutes:.0f} min)",
        f"- Date (UTC): {run.date}",
        f"- Machine: {run.machine}; load average at end: "
        + ", ".join(f"{x:.2f}" for x in run.load_end),
        "- **A shared 2-core machine**: wrk and the server share the two cores, and other"
        " engineers' tests ran meanwhile. Read ratios within a configuration, not absolute"
        " speeds.",
        f"- Server: `uvicorn --factory server_app:create --workers N` (uvloop, httptools,"
        f" access log off) on 127.0.0.1; {run.settings_note}.",
        f"- Load: wrk, 1 thread, {a['connections']} connections, {a['seconds']} s per case,"
        f" {a['rounds']} rounds per configuration, cases shuffled anew each round; cell ="
        " median over rounds. Latencies are wrk's (closed loop: at saturation they are mostly"
        " queueing). Requests carry one of"
        f" {a['tokens']} access tokens of distinct sessions in turn (so the per-process"
        " denylist cache sees each session about once per 1 s window); each refresh sends a"
        " never-used refresh token of its own session; logins cycle over"
        f" {a['users']} users.",
        f"- Storm: logins at saturation ({a['connections']} in flight) while a second wrk"
        f" sends the probe: `/auth/verify` on {a['probe_connections']} connections, each"
        f" pausing {a['probe_pause_ms']} ms between requests; it starts once the storm has"
        " filled the hash pool and stops before it ends. Idle: the same probe alone. The"
        " login row is the storm's wrk.",
        "- raw argon2id = `bench/server_argon2.py`: argon2-cffi verify with the server's"
        " parameters on one thread per core, in its own process, server idle.",
        "",
    ]
    for c in run.configs:
        parts += [f"## {c.name}", "", *_md_table(_rows(c)), ""]
        parts += [f"- {line}" for line in _facts(c, _cores())]
        parts += ["", "Targets:", "", *_target_lines(c), ""]
        problems = c.problems()
        if problems:
            parts += ["Left out:", "", *(f"- {p}" for p in problems), ""]
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


async def machine_note(dbs: list[str]) -> str:
    """Platform, cores, Python, versions of the stack, load average, git state."""
    import os

    versions = []
    for dist in ("uvicorn", "starlette", "fastapi", "sqlalchemy", "aiosqlite", "asyncpg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{dist} {metadata.version(dist)}")
    versions.append(f"argon2-cffi {metadata.version('argon2-cffi')}")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    versions.append(" ".join((wrk.stdout + wrk.stderr).split()[:2]))
    if "postgres" in dbs:
        from server_prep import postgres_version

        versions.append(f"PostgreSQL {await asyncio.wait_for(postgres_version(), 10)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}"
        f" {platform.release()}, Python {sys.version.split()[0]}; {', '.join(versions)};"
        f" {_git_state()}; load average at start: {load}"
    )


def _git_state() -> str:
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "src")
    return f"jotgate at {head}" + (" with uncommitted changes in src/" if dirty else "")
