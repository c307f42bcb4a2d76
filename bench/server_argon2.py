"""The raw argon2id rate of this machine: the ceiling for logins per second.

Run by ``server_bench.py`` in its own process while the server is idle::

    python bench/server_argon2.py --seconds 5 --threads 2 --time-cost 2 --memory-kib 19456

Each thread verifies the right password against one argon2id hash made with
the given parameters (what a login does), through argon2-cffi's
``PasswordHasher`` as the server uses it; argon2-cffi releases the GIL while
hashing, so N threads use N cores. Prints ``{"per_second": ...}``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from argon2 import PasswordHasher, Type

PASSWORD = "bench-correct-horse-battery"


def main() -> None:
    """Parse flags, hash for ``--seconds`` on ``--threads`` threads, print the rate."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--time-cost", type=int, required=True)
    parser.add_argument("--memory-kib", type=int, required=True)
    parser.add_argument("--parallelism", type=int, default=1)
    args = parser.parse_args()
    hasher = PasswordHasher(
        time_cost=args.time_cost,
        memory_cost=args.memory_kib,
        parallelism=args.parallelism,
        type=Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)  # warm: allocator, code paths
    counts = [0] * args.threads
    start = time.perf_counter()
    deadline = start + args.seconds

    def work(slot: int) -> None:
        while time.perf_counter() < deadline:
            hasher.verify(stored, PASSWORD)
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    print(json.dumps({"per_second": sum(counts) / elapsed, "hashes": sum(counts)}))


if __name__ == "__main__":
    main()
