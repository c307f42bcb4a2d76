"""Load benchmark of the jotgate auth server under uvicorn, driven by wrk.

Usage::

    python bench/server_bench.py                       # full run, writes its section of RESULTS.md
    python bench/server_bench.py --quick               # smoke run (3 s cases, one round, SQLite)
    python bench/server_bench.py --duration 10s --db sqlite,postgres --workers 1,2 --rounds 3

For each database (SQLite file, PostgreSQL database made for the run and
dropped after) and each worker count, it prepares users and tokens, starts
``uvicorn --factory server_app:create --workers N`` and runs, in rounds whose
case order is shuffled anew (so a noisy neighbour on the shared machine lands
on every case alike):

- ``bare`` — the ceiling: an empty 200 from a plain Starlette route mounted
  in the same app (see ``server_app.py`` for why), and ``fastapi``, the same
  through FastAPI's request handling (to tell framework cost from ours);
- ``verify`` (``GET /auth/verify``), ``me`` (``GET /auth/me``), ``refresh``
  (``POST /auth/refresh``, a never-used token per request) at saturation;
- ``storm``: logins at saturation (``POST /auth/login``, many in flight) and,
  from a second wrk, a light paced ``/auth/verify`` probe; ``idle``: the same
  probe alone. Their p99s give the starvation target;
- ``argon2``: this machine's raw argon2id verify rate with the server's
  parameters on all cores, in its own process, while the server idles.

Cells are medians over rounds; ratios are ratios of medians, with the range of
the same-round ratios beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from jotgate.server.runtime import Runtime, open_runtime
from jotgate.server.settings import Settings, parse_duration
from server_load import LUA, LUA_PACED, WrkResult, argon2_rate, run_wrk, uvicorn_server
from server_prep import (
    Pools,
    count_refresh_rows,
    database,
    prepare,
    refresh_batch,
    server_env,
)
from server_report import RESULTS, Config, Run, console_table, machine_note, write_section

HERE = Path(__file__).resolve().parent
CASES = ("bare", "fastapi", "verify", "me", "refresh", "storm", "idle", "argon2")
# (path, wrk mode, material) of the saturating cases.
ENDPOINTS = {
    "bare": ("/bench/bare", "bearer"),
    "fastapi": ("/bench/fastapi", "bearer"),
    "verify": ("/auth/verify", "bearer"),
    "me": ("/auth/me", "bearer"),
    "refresh": ("/auth/refresh", "refresh"),
    "login": ("/auth/login", "login"),
}
# Single-use refresh tokens per batch: twice what the best rate seen so far would
# spend (the warm-up measures the first), never fewer than this. Not more: every
# token stays in the table, and refresh cost grows with the table (see the report).
_REFRESH_MIN_BATCH = 3000


class Bench:
    """One server configuration's rounds: material files, cases, samples."""

    def __init__(self, args: argparse.Namespace, work: Path, runtime: Runtime, pools: Pools):
        self.args = args
        self.work = work
        self.runtime = runtime
        self.pools = pools
        self.load_lua = work / "load.lua"
        self.paced_lua = work / "paced.lua"
        self.load_lua.write_text(LUA)
        self.paced_lua.write_text(LUA_PACED)
        self.bearer = self._material("bearer.txt", pools.access_tokens)
        self.logins = self._material("login.txt", pools.login_bodies)
        self.refresh_best = 0.0

    def _material(self, name: str, lines: list[str]) -> Path:
        path = self.work / name
        path.write_text("\n".join(lines) + "\n")
        return path

    async def saturate(self, base: str, case: str, seconds: float) -> WrkResult:
        """``case`` at full load: ``--connections`` connections, back to back."""
        path, mode = ENDPOINTS[case]
        material = self.bearer if mode == "bearer" else self.logins
        return await run_wrk(
            base + path,
            mode=mode,
            material=material,
            connections=self.args.connections,
            seconds=seconds,
            script=self.load_lua,
        )

    async def refresh(self, base: str, seconds: float) -> tuple[WrkResult, int]:
        """Refresh at full load with a fresh batch of never-used tokens; also the table size."""
        count = max(_REFRESH_MIN_BATCH, int(2 * self.refresh_best * seconds))
        # Refresh signs the new access token inside its write transaction; a key cache
        # older than 60 s is reloaded right there, through a second connection that on
        # SQLite waits for the first one's lock (busy_timeout, 30 s, then a 500; see the
        # report). A short burst of /auth/verify first renews every worker's key cache,
        # so a 10 s refresh case measures refresh, not that stall.
        await run_wrk(
            base + "/auth/verify",
            mode="bearer",
            material=self.bearer,
            connections=self.args.connections,
            seconds=1,
            script=self.load_lua,
        )
        plains = await refresh_batch(self.runtime, self.pools.user_ids, count)
        material = self._material("refresh.txt", plains)
        rows = await count_refresh_rows(self.runtime)
        result = await run_wrk(
            base + "/auth/refresh",
            mode="refresh",
            material=material,
            connections=self.args.connections,
            seconds=seconds,
            script=self.load_lua,
        )
        self.refresh_best = max(self.refresh_best, result.rps)
        return result, rows

    async def probe(self, base: str, seconds: float) -> WrkResult:
        """The light paced ``/auth/verify`` probe: few connections, a pause between requests."""
        return await run_wrk(
            base + "/auth/verify",
            mode="bearer",
            material=self.bearer,
            connections=self.args.probe_connections,
            seconds=seconds,
            script=self.paced_lua,
            pause_ms=self.args.probe_pause_ms,
        )

    async def storm(self, base: str, seconds: float) -> tuple[WrkResult, WrkResult]:
        """Logins at saturation; the probe runs inside it once the hash pool is full."""
        lead = min(2.0, seconds / 4)

        async def delayed_probe() -> WrkResult:
            await asyncio.sleep(lead)
            return await self.probe(base, seconds - 2 * lead)

        logins, probe = await asyncio.gather(self.saturate(base, "login", seconds), delayed_probe())
        return logins, probe

    async def argon2(self, settings: Settings, seconds: float) -> float:
        """Raw argon2id verifications/s on every core, with the server's parameters."""
        return await argon2_rate(
            seconds=seconds,
            threads=os.cpu_count() or 1,
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )


async def run_config(args: argparse.Namespace, run: Run, db: str, workers: int) -> None:
    """Prepare, serve and measure one (database, workers) configuration."""
    config = Config(db=db, workers=workers)
    run.configs.append(config)
    seconds = args.seconds
    async with database(db) as url:
        env = server_env(url, secrets.token_urlsafe(32), args.signing_alg)
        settings = Settings.from_env(env)
        run.settings_note = _settings_note(settings)
        with tempfile.TemporaryDirectory(prefix="jotgate-bench-") as tmp:
            work = Path(tmp)
            runtime = await open_runtime(settings)  # migrates and makes the signing key
            try:
                pools = await prepare(runtime, users=args.users, access_tokens=args.tokens)
                bench = Bench(args, work, runtime, pools)
                # Generous: every round's cases, set-up between them, and shutdown.
                lifetime = int(60 + args.rounds * len(CASES) * (seconds + 15))
                log = work / "server.log"
                config.load_start = os.getloadavg()
                server = uvicorn_server(env, workers=workers, lifetime_s=lifetime, log=log)
                async with server as base:
                    await _warm_up(bench, base)
                    for r in range(args.rounds):
                        order = list(args.cases)
                        run.rng.shuffle(order)
                        for case in order:
                            _progress(f"{db}/{workers}w round {r + 1}/{args.rounds}: {case}")
                            await _one_case(bench, config, settings, base, case, seconds)
                config.load_end = os.getloadavg()
                config.server_log_tail = log.read_text(errors="replace")[-2000:]
            finally:
                await runtime.close()
    _progress("")


async def _warm_up(bench: Bench, base: str) -> None:
    # Imports, connection pools, argon2 threads and caches of every worker process.
    for case in ("bare", "fastapi", "verify", "me", "login"):
        await bench.saturate(base, case, 2)
    await bench.refresh(base, 2)


async def _one_case(
    bench: Bench, config: Config, settings: Settings, base: str, case: str, seconds: float
) -> None:
    if case in ("bare", "fastapi", "verify", "me"):
        config.add(case, await bench.saturate(base, case, seconds))
    elif case == "refresh":
        result, rows = await bench.refresh(base, seconds)
        config.add(case, result)
        config.refresh_rows.append(rows)
    elif case == "storm":
        logins, probe = await bench.storm(base, seconds)
        config.add("login", logins)
        config.add("storm", probe)
    elif case == "idle":
        lead = min(2.0, seconds / 4)
        config.add("idle", await bench.probe(base, seconds - 2 * lead))
    elif case == "argon2":
        config.argon2.append(await bench.argon2(settings, seconds))


def _settings_note(settings: Settings) -> str:
    return (
        f"signing alg {settings.signing_alg}; argon2id m={settings.argon2_memory_kib} KiB,"
        f" t={settings.argon2_time_cost}, p={settings.argon2_parallelism};"
        f" denylist cache {settings.denylist_cache_seconds:g} s; no Redis"
        " (denylist in the database); everything else at its default"
    )


def _progress(text: str) -> None:
    print(f"\r\033[K{text}", end="" if text else "\n", file=sys.stderr, flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s cases, 1 round, SQLite only")
    parser.add_argument("--duration", default=None, help="length of each case (default 10s)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--db", default=None, help="sqlite,postgres (default both)")
    parser.add_argument("--workers", default=None, help="uvicorn worker counts (default 1,2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--probe-connections", type=int, default=2)
    parser.add_argument("--probe-pause-ms", type=int, default=20)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=100, help="distinct access tokens")
    parser.add_argument("--signing-alg", default="ES256", help="server's (default ES256)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--cases",
        default=None,
        help=f"comma-separated subset of {','.join(CASES)} (default all; implies --no-write)",
    )
    args = parser.parse_args(argv)
    args.seconds = parse_duration(args.duration or ("3s" if args.quick else "10s"))
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.cases = tuple(args.cases.split(",")) if args.cases else CASES
    if unknown := set(args.cases) - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if args.cases != CASES:
        args.no_write = True  # a partial run must not replace the recorded section
    args.dbs = (args.db or ("sqlite" if args.quick else "sqlite,postgres")).split(",")
    workers = args.workers or ("1" if args.quick else "1,2")
    args.worker_counts = [int(w) for w in workers.split(",")]
    if args.seconds < 3:
        parser.error("--duration must be at least 3s (the storm needs a lead-in)")
    return args


async def _main(args: argparse.Namespace, command: str) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    run = Run(command=command, seed=seed, rng=random.Random(seed), args=vars(args))
    run.machine = await machine_note(args.dbs)
    started = time.monotonic()
    # Configurations one after another (each owns the machine while it runs); within
    # a configuration the cases interleave, which is what every ratio compares.
    for db in args.dbs:
        for workers in args.worker_counts:
            await run_config(args, run, db, workers)
    run.minutes = (time.monotonic() - started) / 60
    run.load_end = os.getloadavg()
    print(console_table(run))
    if not args.no_write:
        write_section(args.out, run)
        print(f"\nwrote the server section of {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse flags, run every configuration, print and record."""
    args = _parse_args(argv)
    # A TERM (a supervisor, a timeout) unwinds like Ctrl-C, so the server is stopped
    # and the PostgreSQL database dropped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = "python bench/server_bench.py" + (
        " " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""
    )
    return asyncio.run(_main(args, command))


if __name__ == "__main__":
    sys.exit(main())
