"""The per-library worker process: loads one library, then times it on the parent's command.

It speaks JSON lines: one command per line on stdin, one reply per line on the original
stdout. The parent runs one command at a time across all workers, so while one worker
times, the others sit blocked on ``readline`` and do not compete for the two cores.

Commands: ``setup`` (material -> supported algs), ``check`` (correctness, untimed),
``warm``, ``calibrate`` (warm up, pick batch sizes), ``round`` (one timed batch per case), ``quit``.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any, TextIO

from adapters import Material, Ops, setup

__all__ = ["run_worker"]

_DISTRIBUTIONS = {
    "jotgate": "jotgate",
    "pyjwt": "PyJWT",
    "joserfc": "joserfc",
    "python-jose": "python-jose",
    "jwcrypto": "jwcrypto",
    "floor": "cryptography",
}


def _version(library: str) -> str:
    try:
        return metadata.version(_DISTRIBUTIONS[library])
    except metadata.PackageNotFoundError:
        return "?"


def _case_fn(ops: dict[str, Ops], case: str, material: Material) -> tuple[Callable[..., Any], Any]:
    """``"ES256/decode"`` -> (the function, its one argument)."""
    alg, op = case.split("/")
    if op == "decode":
        return ops[alg].decode, material.tokens[alg]
    return ops[alg].encode, material.claims


def time_batch(
    fn: Callable[[Any], Any], arg: Any, n: int, *, keep_gc: bool = False
) -> tuple[int, int]:
    """(wall ns, this thread's CPU ns) for ``n`` back-to-back calls of ``fn(arg)``.

    Wall time (``perf_counter_ns``) is what gets reported. CPU time rides along because on
    a shared machine the scheduler sometimes parks us mid-batch: wall then exceeds CPU
    time, and the parent can tell that batch measured the neighbours, not the library.
    The collector is off while timing (as ``timeit`` does) unless ``keep_gc``: a
    collection landing in one batch and not the next is noise, not a library property.
    """
    loop = itertools.repeat(None, n)  # the cheapest Python loop; its cost is the same for all
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    if not keep_gc:
        gc.disable()
    try:
        start_cpu, start = cpu(), wall()
        for _ in loop:
            fn(arg)
        end = wall()
        return end - start, cpu() - start_cpu
    finally:
        gc.enable()


class _Worker:
    def __init__(self, library: str) -> None:
        self.library = library
        self.material: Material | None = None
        self.ops: dict[str, Ops] = {}
        self.keep_gc = False

    def cases(self) -> list[str]:
        return [f"{alg}/{op}" for alg in self.ops for op in ("encode", "decode")]

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "setup":
            self.material = Material.from_json(msg["material"])
            self.ops = setup(self.library, self.material)
            self.keep_gc = bool(msg.get("keep_gc", False))
            return {"version": _version(self.library), "algs": list(self.ops)}
        if cmd == "check":
            return self.check(msg["negatives"])
        if cmd == "warm":
            self.warm(msg["warmup_ns"])
            return {}
        if cmd == "calibrate":
            return {"batch": self.calibrate(msg["target_ns"], msg["warmup_ns"])}
        if cmd == "round":
            return {"ns_per_op": self.round(msg["order"], msg["batch"])}
        raise ValueError(f"unknown command {cmd!r}")

    def check(self, negatives: dict[str, dict[str, str]]) -> dict[str, Any]:
        """Decode the shared token, encode the claims, and try every must-fail token.

        Warnings raised by the good-path calls are reported: a library that warns on every
        call pays for the warnings machinery inside its timings, and readers should know.
        """
        assert self.material is not None
        out: dict[str, Any] = {"decoded": {}, "encoded": {}, "accepted": {}, "warnings": {}}
        for alg, ops in self.ops.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out["decoded"][alg] = ops.decode(self.material.tokens[alg])
                out["encoded"][alg] = ops.encode(self.material.claims)
            if caught:
                out["warnings"][alg] = sorted(
                    {f"{w.category.__name__}: {w.message}" for w in caught}
                )
            if self.library == "floor":
                continue  # the floors check nothing by design
            accepted = []
            for name, token in negatives[alg].items():
                try:
                    ops.decode(token)
                except Exception:  # any refusal counts; the type is not judged
                    continue
                accepted.append(name)
            out["accepted"][alg] = accepted
        return out

    def warm(self, warmup_ns: int) -> None:
        """Run every case for ``warmup_ns``: fills caches, lazy imports, specialised bytecode."""
        assert self.material is not None
        for case in self.cases():
            fn, arg = _case_fn(self.ops, case, self.material)
            deadline = time.perf_counter_ns() + warmup_ns
            while time.perf_counter_ns() < deadline:
                fn(arg)

    def calibrate(self, target_ns: int, warmup_ns: int) -> dict[str, int]:
        """Warm every case up, then size its batch so one batch takes about ``target_ns``."""
        assert self.material is not None
        self.warm(warmup_ns)
        batch: dict[str, int] = {}
        for case in self.cases():
            fn, arg = _case_fn(self.ops, case, self.material)
            n = 1
            while True:
                # Sized on CPU time, so a preemption during calibration cannot shrink it.
                _, elapsed = time_batch(fn, arg, n, keep_gc=self.keep_gc)
                if elapsed >= target_ns:
                    break
                # Grow toward the target, at least doubling so tiny first timings converge.
                n = max(2 * n, int(n * target_ns / max(elapsed, 1) * 1.1))
            batch[case] = n
        return batch

    def round(self, order: list[str], batch: dict[str, int]) -> dict[str, tuple[float, float]]:
        """One timed batch per case, in the parent's (shuffled) order: (wall, CPU) ns per op."""
        assert self.material is not None
        result: dict[str, tuple[float, float]] = {}
        for case in order:
            fn, arg = _case_fn(self.ops, case, self.material)
            n = batch[case]
            wall, cpu = time_batch(fn, arg, n, keep_gc=self.keep_gc)
            result[case] = (wall / n, cpu / n)
            # Collect outside the timed region so garbage from this batch never lands in
            # the next one.
            gc.collect()
        return result


def run_worker(library: str) -> None:
    """Serve commands on stdin until ``quit`` or EOF."""
    # Libraries may print; keep the protocol channel to ourselves and send prints to stderr.
    proto: TextIO = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    worker = _Worker(library)
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        try:
            reply = {"ok": True, **worker.handle(msg)}
        except Exception as err:  # report to the parent instead of dying mute
            reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            traceback.print_exc()
        proto.write(json.dumps(reply) + "\n")
