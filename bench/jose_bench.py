"""JOSE benchmark: jotgate against PyJWT, joserfc, python-jose, jwcrypto and hand-written floors.

Usage::

    python bench/jose_bench.py                 # full run, writes bench/RESULTS.md
    python bench/jose_bench.py --quick         # a fast smoke run (still writes --out)
    python bench/jose_bench.py --rounds 100 --out /tmp/results.md

Measures µs per op of JWT ``encode`` and ``decode`` (signature + exp/iss/aud checks, keys
pre-loaded) of an access-token payload for HS256, RS256, ES256 and EdDSA. Each library runs
in its own worker process (this script with ``--worker LIB``) so one library's imports and
caches cannot help or hurt another; the parent drives the workers one at a time in
interleaved, shuffled rounds so machine noise spreads over everyone alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from adapters import LIBRARIES
from report import Run, console_table, markdown
from worker import run_worker

HERE = Path(__file__).resolve().parent
# Claims are re-minted (and every worker re-set-up) before tokens get near their 900 s exp.
REFRESH_AFTER_S = 600


class WorkerProcess:
    """One library's worker subprocess, spoken to in JSON lines."""

    def __init__(self, library: str) -> None:
        self.library = library
        # stderr goes to a file: a chatty library must not fill a pipe and stall the worker.
        self.stderr: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "jose_bench.py"), "--worker", library],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )

    def ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one command and wait for its reply; raise with the worker's stderr on failure."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        reply: dict[str, Any] = json.loads(line) if line else {"ok": False, "error": "died"}
        if not reply["ok"]:
            raise RuntimeError(f"{self.library} {msg['cmd']}: {reply['error']}\n{self.tail()}")
        return reply

    def tail(self, lines: int = 15) -> str:
        """The last lines the worker wrote to stderr (tracebacks, warnings)."""
        self.stderr.seek(0)
        return "".join(self.stderr.readlines()[-lines:])

    def close(self) -> None:
        """Ask the worker to quit, then reap it."""
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def _machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}; load average at start: {load}"
    )


def _check(run: Run, minter: Any, material: Any, workers: dict[str, WorkerProcess]) -> None:
    """Untimed correctness: same claims out of decode, verifiable tokens out of encode,
    and every must-fail token refused. Findings become notes in the report."""
    negatives = {alg: minter.negatives(alg, material.claims) for alg in material.tokens}
    for lib, w in workers.items():
        reply = w.ask({"cmd": "check", "negatives": negatives})
        for alg, token in reply["encoded"].items():
            if lib == "floor" and alg != "HS256":
                continue  # raw-sign floors produce no token
            try:
                claims = minter.verify_token(alg, token)
            except Exception as err:  # any failure is reported, not fatal
                run.notes.append(f"{lib} {alg} encode: token does not verify: {err}")
                continue
            if claims != material.claims:
                run.notes.append(f"{lib} {alg} encode: claims differ: {claims}")
        for alg, claims in reply["decoded"].items():
            if claims != material.claims:
                run.notes.append(f"{lib} {alg} decode: returned {claims!r}")
        for alg, caught in reply["warnings"].items():
            run.notes.append(f"{lib} warns on each {alg} call (cost included): {'; '.join(caught)}")
        for alg, accepted in reply["accepted"].items():
            if accepted:
                run.notes.append(f"{lib} {alg} decode ACCEPTED must-fail tokens: {accepted}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, serve as one library's worker)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, short batches")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 200, quick 30)")
    parser.add_argument("--batch-ms", type=float, help="target ms per batch (default 2)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="markdown report")
    parser.add_argument("--libs", default=",".join(LIBRARIES), help="comma-separated subset")
    parser.add_argument("--keep-gc", action="store_true", help="leave the GC on while timing")
    parser.add_argument("--seed", type=int, default=None, help="seed for the shuffled orders")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return 0

    from material import Minter  # the parent alone needs cryptography for keys

    rounds = args.rounds or (30 if args.quick else 200)
    # Short batches: on a shared machine most of them then finish inside one scheduler
    # slice, and the few that do not are recognised and dropped (see report.CLEAN_SLACK).
    batch_ms = args.batch_ms or 2.0
    libs = [lib for lib in args.libs.split(",") if lib]
    unknown = set(libs) - set(LIBRARIES)
    if unknown:
        parser.error(f"unknown libraries: {sorted(unknown)}")
    rng = random.Random(args.seed)
    warmup_ns = int((0.05 if args.quick else 0.2) * 1e9)  # per case

    run = Run(
        command=shlex.join(["python", "bench/jose_bench.py", *sys.argv[1:]]),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        machine=_machine(),
        rounds=rounds,
        batch_ms=batch_ms,
    )
    minter = Minter()
    material = minter.material()
    issued = time.monotonic()
    setup_msg = {"cmd": "setup", "material": material.to_json(), "keep_gc": args.keep_gc}

    workers: dict[str, WorkerProcess] = {}
    try:
        for lib in libs:
            workers[lib] = WorkerProcess(lib)
        for lib in list(workers):
            try:
                reply = workers[lib].ask(setup_msg)
            except RuntimeError as err:
                run.notes.append(f"{lib} not measured: {str(err).splitlines()[0]}")
                print(err, file=sys.stderr)
                workers.pop(lib).close()
                continue
            run.versions[lib] = reply["version"]
            missing = sorted(set(material.tokens) - set(reply["algs"]))
            if missing:
                run.notes.append(f"{lib} does not support {', '.join(missing)}")
        _check(run, minter, material, workers)

        print(f"calibrating {len(workers)} workers ...", file=sys.stderr)
        for lib, w in workers.items():
            run.batch[lib] = w.ask(
                {
                    "cmd": "calibrate",
                    "target_ns": int(batch_ms * 1e6),
                    "warmup_ns": warmup_ns,
                }
            )["batch"]
            run.samples[lib] = {case: [] for case in run.batch[lib]}
            run.cpu[lib] = {case: [] for case in run.batch[lib]}

        for r in range(rounds):
            if time.monotonic() - issued > REFRESH_AFTER_S:
                material = minter.material()
                issued = time.monotonic()
                setup_msg["material"] = material.to_json()
                for w in workers.values():
                    w.ask(setup_msg)
                    w.ask({"cmd": "warm", "warmup_ns": warmup_ns})
            # Case-major: all libraries' batches of one case run back to back, so a ratio
            # taken within a round compares batches that met the same machine weather.
            cases = sorted({case for batch in run.batch.values() for case in batch})
            rng.shuffle(cases)
            for case in cases:
                order = [lib for lib in workers if case in run.batch[lib]]
                rng.shuffle(order)
                for lib in order:
                    reply = workers[lib].ask(
                        {"cmd": "round", "order": [case], "batch": run.batch[lib]}
                    )
                    wall, cpu = reply["ns_per_op"][case]
                    run.samples[lib][case].append(wall)
                    run.cpu[lib][case].append(cpu)
            print(f"\rround {r + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        for w in workers.values():
            w.close()

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    run.machine += f"; at end: {load}"
    print("Numbers from a shared 2-core machine: compare ratios within this run.\n")
    print(console_table(run))
    args.out.write_text(markdown(run), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
