"""Where one endpoint's time goes in the auth server, for whoever makes it faster.

Usage::

    python bench/server_profile.py --case verify              # GET /auth/verify on SQLite
    python bench/server_profile.py --case refresh --db postgres --seconds 10 --top 30

It serves ``server_app:create`` with uvicorn *in this process* (one worker, the
same app and settings as ``server_bench.py``), drives it with wrk from its own
process, and prints two views of the same load:

1. **CPU per request by thread** (no profiler attached): the event loop (where
   FastAPI, SQLAlchemy's ORM, JWT signing and verifying run), the aiosqlite
   connection threads, the argon2 pool, AnyIO's thread pool (sync FastAPI
   dependencies) — read from ``/proc/self/task``. CPU time, not wall time, so
   it says what a request costs even when neighbours slow the machine down.
2. **cProfile of the event-loop thread**, own time summed by package, then the
   top functions. cProfile inflates Python-heavy code, so trust proportions
   and call counts, and view 1 for absolute cost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from jotgate.server.runtime import open_runtime
from jotgate.server.settings import Settings
from server_load import LUA, WrkResult, free_port, run_wrk
from server_prep import database, prepare, refresh_batch, server_env

CASES = {
    "bare": ("/bench/bare", "bearer"),
    "fastapi": ("/bench/fastapi", "bearer"),
    "verify": ("/auth/verify", "bearer"),
    "me": ("/auth/me", "bearer"),
    "refresh": ("/auth/refresh", "refresh"),
    "login": ("/auth/login", "login"),
}


def _thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each thread of this process, keyed by a readable name."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = collections.defaultdict(float)
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        out[_kind(names.get(int(tid), "?"), int(tid) == os.getpid())] += cpu
    return out


def _kind(name: str, main: bool) -> str:
    # Thread names say what runs there; group the pools.
    if main:
        return "event loop (main thread)"
    if "_connection_worker_thread" in name:
        return "aiosqlite connection threads"
    if name.startswith("jotgate-argon2"):
        return "argon2 pool"
    if name.startswith("AnyIO") or "asyncio" in name.lower():
        return "thread pools (sync deps, to_thread)"
    return f"other ({name})"


def _package(filename: str) -> str:
    for marker in ("site-packages/", "src/"):
        if marker in filename:
            return filename.split(marker, 1)[1].split("/")[0].removesuffix(".py")
    if filename.startswith("<") or filename == "~":
        return "builtins / C calls"
    return "stdlib " + Path(filename).parent.name


async def _drive(args: argparse.Namespace, work: Path) -> None:
    async with database(args.db) as url:
        env = server_env(url, secrets.token_urlsafe(32), args.signing_alg)
        os.environ.update({k: v for k, v in env.items() if k.startswith("JOTGATE_")})
        settings = Settings.from_env(env)
        runtime = await open_runtime(settings)
        try:
            pools = await prepare(runtime, users=16, access_tokens=100)
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from server_app import create

            port = free_port()
            config = uvicorn.Config(
                create(), host="127.0.0.1", port=port, log_level="warning", access_log=False
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            script = work / "load.lua"
            script.write_text(LUA)
            path, mode = CASES[args.case]
            lines = {"bearer": pools.access_tokens, "login": pools.login_bodies}

            async def material() -> Path:
                # Untimed set-up. Keys are reloaded when 60 s old: renew them outside any
                # transaction first (see server_bench.py), then make fresh refresh tokens.
                if mode != "refresh":
                    out = work / f"{mode}.txt"
                    out.write_text("\n".join(lines[mode]) + "\n")
                    return out
                bearer = work / "bearer.txt"
                bearer.write_text("\n".join(pools.access_tokens) + "\n")
                await run_wrk(
                    f"http://127.0.0.1:{port}/auth/verify",
                    mode="bearer",
                    material=bearer,
                    connections=4,
                    seconds=1,
                    script=script,
                )
                out = work / "refresh.txt"
                plains = await refresh_batch(runtime, pools.user_ids, args.refresh_tokens)
                out.write_text("\n".join(plains) + "\n")
                return out

            async def load(seconds: float, lines_file: Path) -> WrkResult:
                return await run_wrk(
                    f"http://127.0.0.1:{port}{path}",
                    mode=mode,
                    material=lines_file,
                    connections=args.connections,
                    seconds=seconds,
                    script=script,
                )

            await load(2, await material())  # warm-up
            lines_file = await material()
            before = _thread_cpu()
            plain = await load(args.seconds, lines_file)
            after = _thread_cpu()
            lines_file = await material()
            profiler = cProfile.Profile()
            profiler.enable()
            profiled = await load(args.seconds, lines_file)
            profiler.disable()
            server.should_exit = True
            await task
        finally:
            await runtime.close()
    _print_cpu(args, plain, before, after)
    _print_profile(args, profiled, profiler)


def _print_cpu(
    args: argparse.Namespace, r: WrkResult, before: dict[str, float], after: dict[str, float]
) -> None:
    print(f"{args.case} on {args.db}, {args.connections} connections, {args.seconds} s:")
    print(f"  {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, errors {r.errors}")
    requests = max(1, r.requests)
    total = 0.0
    rows = []
    for kind in sorted(after):
        cpu = after[kind] - before.get(kind, 0.0)
        total += cpu
        if cpu > 0:
            rows.append((cpu, kind))
    print(f"  CPU per request: {total / requests * 1e6:,.0f} µs in all, of which")
    for cpu, kind in sorted(rows, reverse=True):
        print(f"    {cpu / requests * 1e6:9,.0f} µs  {kind}")


def _print_profile(args: argparse.Namespace, r: WrkResult, profiler: cProfile.Profile) -> None:
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = collections.defaultdict(float)
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_package[_package(filename)] += tottime
        total += tottime
    requests = max(1, r.requests)
    print(f"\ncProfile of the event loop ({r.requests} requests while profiled)")
    print("  own time by package, µs per request (profiler-inflated):")
    for package, t in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        print(f"    {t / requests * 1e6:9,.1f}  {100 * t / total:5.1f}%  {package}")
    print(f"\n  top {args.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(args.top)
    if args.dump:
        stats.dump_stats(args.dump)
        print(f"profile saved to {args.dump} (python -m pstats {args.dump})")


def main() -> int:
    """Parse flags and profile one case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="verify")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--refresh-tokens", type=int, default=6000)
    parser.add_argument("--signing-alg", default="ES256")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", type=Path, default=None, help="save the cProfile stats here")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jotgate-profile-") as tmp:
        asyncio.run(_drive(args, Path(tmp)))
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
