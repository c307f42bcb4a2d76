"""JWE and DPoP benchmark: jotgate against joserfc, jwcrypto and bare ``cryptography``.

Usage::

    python bench/jwe_dpop_bench.py              # full run, writes its section of bench/RESULTS.md
    python bench/jwe_dpop_bench.py --quick      # a smoke run (still writes --out)
    python bench/jwe_dpop_bench.py --rounds 60 --out /tmp/results.md

Measures µs per op of JWE compact ``encrypt`` and ``decrypt`` of an access-token-sized
payload (a signed access token, as in a nested JWT) with A256GCM content encryption under
``dir``, ``A256KW``, ``ECDH-ES+A256KW`` (P-256) and ``RSA-OAEP-256`` (2048 bits), and what
a DPoP proof check costs per request: ``dpop.verify_proof`` of a fresh ES256 proof (with
``ath``, ``cnf.jkt`` and a ``MemoryReplayCache``) against one bare ``cryptography`` ES256
verify. Same method as ``jose_bench.py``: one worker process per library, interleaved and
shuffled rounds, one process timing at a time, descheduled batches dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from jose_bench import WorkerProcess
from jwe_dpop_adapters import ENC, setup
from jwe_dpop_report import section, write_section
from report import Run
from worker import time_batch

HERE = Path(__file__).resolve().parent
LIBRARIES = ("jotgate", "joserfc", "jwcrypto", "floor")
_DIST = {
    "jotgate": "jotgate",
    "joserfc": "joserfc",
    "jwcrypto": "jwcrypto",
    "floor": "cryptography",
}


# -- the worker (this script with --worker LIB) ------------------------------------------


def _serve(library: str) -> None:
    proto: TextIO = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # a chatty library must not write into the protocol
    cases: dict[str, Any] = {}
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        try:
            reply: dict[str, Any] = {"ok": True}
            if msg["cmd"] == "setup":
                cases = setup(library, msg["material"])
                reply["version"] = metadata.version(_DIST[library])
                reply["outputs"] = {name: _output(c) for name, c in cases.items()}
            elif msg["cmd"] == "calibrate":
                reply["batch"] = {n: _calibrate(c, msg["target_ns"]) for n, c in cases.items()}
            elif msg["cmd"] == "round":
                reply["ns_per_op"] = {n: _timed(cases[n], msg["batch"][n]) for n in msg["order"]}
            proto.write(json.dumps(reply) + "\n")
        except Exception as err:  # report to the parent instead of dying mute
            proto.write(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"}) + "\n")


def _output(case: Any) -> str:
    """One untimed call's result, as text the parent can check."""
    if case.refill:
        case.refill(1)
    out = case.fn(None)
    if isinstance(out, str):
        return out
    return out.decode("utf-8", "replace") if isinstance(out, bytes) else "ok"


def _timed(case: Any, n: int) -> tuple[float, float]:
    if case.refill:
        case.refill(n)  # fresh inputs, made before the clock starts
    gc.collect()
    wall, cpu = time_batch(case.fn, None, n)
    return wall / n, cpu / n


def _calibrate(case: Any, target_ns: int) -> int:
    deadline = time.perf_counter() + 0.15
    while time.perf_counter() < deadline:  # warm up: caches, lazy imports, bytecode
        _timed(case, 4)
    n = 1
    while True:
        _, cpu = _timed(case, n)
        if cpu * n >= target_ns:
            return n
        n = max(2 * n, int(n * target_ns / max(cpu * n, 1) * 1.1))


# -- the parent ---------------------------------------------------------------------------


class _Worker(WorkerProcess):
    """jose_bench's worker handle (ask, tail, close), running this script instead."""

    def __init__(self, library: str) -> None:
        self.library = library
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", library],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )


def _material() -> dict[str, Any]:
    """Keys, the payload and the tokens every library decrypts (minted by jotgate)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from jotgate import jwe, jwk, jwt

    def pem(key: Any) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    now = int(time.time())
    claims = {
        "iss": "https://auth.example.com",
        "sub": "6f1c2a8e-3b7d-4c19-9e52-0d8a7b6c5f43",
        "aud": "notes-api",
        "exp": now + 900,
        "iat": now,
        "jti": os.urandom(16).hex(),
        "sid": os.urandom(16).hex(),
        "scope": "notes:read notes:write profile",
        "roles": ["user", "editor"],
    }
    signer = jwk.Key.generate("ES256", kid="2026-11")
    payload = jwt.encode(claims, signer, typ="at+jwt")
    m: dict[str, Any] = {
        "payload": payload,
        "cek": os.urandom(32).hex(),
        "kek": os.urandom(32).hex(),
        "ec_pem": pem(ec.generate_private_key(ec.SECP256R1())),
        "rsa_pem": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "dpop_pem": pem(ec.generate_private_key(ec.SECP256R1())),
        "access_token": payload,
    }
    keys = _jotgate_keys(m)
    m["tokens"] = {
        alg: jwe.encrypt(payload.encode(), k if k.is_symmetric else k.public_key(), alg, ENC)
        for alg, k in keys.items()
    }
    from jotgate import dpop

    sample = dpop.create_proof(jwk.Key.from_pem(m["dpop_pem"]), "GET", "https://a.example/x")
    m["proof_input_bytes"] = len(sample.rsplit(".", 1)[0])
    return m


def _jotgate_keys(m: dict[str, Any]) -> dict[str, Any]:
    from jotgate import jwk

    return {
        "dir": jwk.Key.from_secret(bytes.fromhex(m["cek"]), alg="dir"),
        "A256KW": jwk.Key.from_secret(bytes.fromhex(m["kek"]), alg="A256KW"),
        "ECDH-ES+A256KW": jwk.Key.from_pem(m["ec_pem"]),
        "RSA-OAEP-256": jwk.Key.from_pem(m["rsa_pem"]),
    }


def _check(run: Run, m: dict[str, Any], library: str, outputs: dict[str, str]) -> list[str]:
    """Cases whose output is wrong (noted, and dropped from timing)."""
    from jotgate import jwe

    keys, bad = _jotgate_keys(m), []
    for case, out in outputs.items():
        alg, op = case.split("/")
        if alg == "dpop" or (library == "floor" and op == "encrypt"):
            continue  # proofs are checked by the tests; raw floors produce no token
        try:
            text = (
                out
                if op == "decrypt"
                else jwe.decrypt(
                    out, keys[alg], algorithms=[alg], encryptions=[ENC]
                ).plaintext.decode()
            )
        except Exception as err:  # any failure is reported, not fatal
            text = f"<{type(err).__name__}: {err}>"
        if text != m["payload"]:
            run.notes.append(f"{library} {case}: wrong result {text[:60]!r}; not timed")
            bad.append(case)
    return bad


def _machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}; load average at start: {load}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, serve as one library's worker)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 80, quick 12)")
    parser.add_argument("--batch-ms", type=float, default=3.0, help="target ms per batch")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="file to update")
    parser.add_argument("--libs", default=",".join(LIBRARIES), help="comma-separated subset")
    parser.add_argument("--seed", type=int, default=None, help="seed for the shuffled orders")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _serve(args.worker)
        return 0
    rounds = args.rounds or (12 if args.quick else 80)
    rng = random.Random(args.seed)
    run = Run(
        command=shlex.join(["python", "bench/jwe_dpop_bench.py", *sys.argv[1:]]),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        machine=_machine(),
        rounds=rounds,
        batch_ms=args.batch_ms,
    )
    material = _material()
    workers: dict[str, _Worker] = {}
    try:
        for lib in [x for x in args.libs.split(",") if x]:
            workers[lib] = _Worker(lib)
        for lib, w in workers.items():
            reply = w.ask({"cmd": "setup", "material": material})
            run.versions[lib] = reply["version"]
            bad = _check(run, material, lib, reply["outputs"])
            batch = w.ask({"cmd": "calibrate", "target_ns": int(args.batch_ms * 1e6)})["batch"]
            run.batch[lib] = {c: n for c, n in batch.items() if c not in bad}
            run.samples[lib] = {c: [] for c in run.batch[lib]}
            run.cpu[lib] = {c: [] for c in run.batch[lib]}
        cases = sorted({c for b in run.batch.values() for c in b})
        for r in range(rounds):
            rng.shuffle(cases)
            for case in cases:
                order = [lib for lib in workers if case in run.batch[lib]]
                rng.shuffle(order)
                for lib in order:
                    msg = {"cmd": "round", "order": [case], "batch": run.batch[lib]}
                    wall, cpu = workers[lib].ask(msg)["ns_per_op"][case]
                    run.samples[lib][case].append(wall)
                    run.cpu[lib][case].append(cpu)
            print(f"\rround {r + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        for w in workers.values():
            w.close()
    run.machine += "; at end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = section(run, len(material["payload"]))
    print(text)
    write_section(args.out, text)
    print(f"\nwrote its section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
