"""Where jotgate's decode time goes, for the lead who optimizes it.

Usage::

    python bench/profile_jotgate.py                    # ES256, EdDSA, RS256 and HS256 decode
    python bench/profile_jotgate.py --algs RS256 --top 20

Two views per alg, both in this one process:

1. **Stages**, timed in interleaved shuffled rounds like ``jose_bench.py``: the whole
   ``jwt.decode``; the floor (bare ``cryptography`` verify, or for HS256 the unsafe
   hand-written decoder); jotgate's verifier alone;
   ``jwt.decode`` with a verifier that always says yes (everything *but* the crypto); and
   the floor followed by that crypto-free decode, which is what a perfect library could
   reach given this machine's cache behaviour (the Python part runs after a large C call
   has evicted its caches, so it costs more than when timed alone).
2. **cProfile** of many ``jwt.decode`` calls, top entries by own time.

It reads jotgate internals (``Key._verifiers``) to build the yes-verifier; it never
changes jotgate itself.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from adapters import ALGS, setup
from material import Minter

__all__ = ["main"]


def _batch(fn: Callable[[], Any], target_ns: int) -> int:
    n = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        if time.perf_counter_ns() - start >= target_ns:
            return n
        n *= 2


def _stages(alg: str, rounds: int) -> dict[str, list[float]]:
    from jotgate import _b64, jwa, jwk, jwt

    material = Minter().material()
    floor = setup("floor", material)[alg].decode
    token = material.tokens[alg]

    def key() -> Any:
        if alg == "HS256":
            return jwk.Key.from_secret(material.secret, alg=alg)
        return jwk.Key.from_pem(material.public_pem[alg], alg=alg)

    real, yes = key(), key()
    signing_input, _, sig = token.rpartition(".")
    data, signature = signing_input.encode(), _b64.decode(sig)
    algs = [alg]
    verifier = real.verifier(jwa.ALGORITHMS[alg])
    yes._verifiers[alg] = lambda _data, _sig: True  # everything but the crypto

    def decode(k: Any) -> Callable[[], Any]:
        return lambda: jwt.decode(
            token,
            k,
            algorithms=algs,
            issuer=material.issuer,
            audience=material.audience,
            required=("exp",),
        )

    crypto_free = decode(yes)

    def floor_then_crypto_free() -> None:
        floor(token)
        crypto_free()

    cases: dict[str, Callable[[], Any]] = {
        "jwt.decode": decode(real),
        "floor": lambda: floor(token),
        "jotgate verifier alone": lambda: verifier(data, signature),
        "jwt.decode minus crypto": crypto_free,
        "floor + decode minus crypto": floor_then_crypto_free,
    }
    for fn in cases.values():
        fn()  # warm up
    batch = {name: _batch(fn, 5_000_000) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            fn, n = cases[name], batch[name]
            gc.disable()
            start = time.perf_counter_ns()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter_ns() - start
            gc.enable()
            samples[name].append(elapsed / n / 1000)
    return samples


def _profile(alg: str, iterations: int, top: int) -> str:
    from jotgate import jwk, jwt

    material = Minter().material()
    token = material.tokens[alg]
    if alg == "HS256":
        key = jwk.Key.from_secret(material.secret, alg=alg)
    else:
        key = jwk.Key.from_pem(material.public_pem[alg], alg=alg)
    algs = [alg]
    kwargs: dict[str, Any] = {
        "algorithms": algs,
        "issuer": material.issuer,
        "audience": material.audience,
        "required": ("exp",),
    }
    jwt.decode(token, key, **kwargs)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        jwt.decode(token, key, **kwargs)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    """Print stage timings and a cProfile table per alg."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algs", default="ES256,EdDSA,RS256,HS256")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--iterations", type=int, default=20_000, help="cProfile calls")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print("Shared 2-core machine: medians of interleaved rounds, µs per op.")
    for alg in args.algs.split(","):
        if alg not in ALGS:
            parser.error(f"unknown alg {alg}")
        samples = _stages(alg, args.rounds)
        floor = statistics.median(samples["floor"])
        print(f"\n== {alg} decode: stages ==")
        for name, xs in samples.items():
            q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
            print(f"{name:30s} {med:8.2f} µs  ({med / floor:.3f}x floor; IQR {q1:.2f}-{q3:.2f})")
        print(f"\n== {alg} decode: cProfile, {args.iterations} calls, by own time ==")
        print(_profile(alg, args.iterations, args.top))


if __name__ == "__main__":
    main()
