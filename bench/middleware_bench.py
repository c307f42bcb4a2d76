"""Per-request cost of jotgate.middleware against a bare ``jwt.decode``, in one run.

Measures, for ES256 and HS256 access tokens shaped like the auth server's:

* ``jwt.decode``                       - the floor: signature + claims, nothing else
* ``Verifier.verify`` cache miss        - decode + typed Claims + revocation check
* ``Verifier.verify`` cache hit         - the target is <= 3 us
* ``AuthMiddleware`` per request, hit and miss, minus a bare call of the inner app
  (target: <= 1.2x a bare ``jwt.decode``)

The ASGI coroutine is driven by hand (``coro.send(None)``): nothing in it
awaits real I/O, so no event loop overhead is counted against the middleware.
Each figure is the median of batches; ratios are against ``jwt.decode``.

    .venv/bin/python bench/middleware_bench.py [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from jotgate import jwk, jwt
from jotgate.middleware import AuthMiddleware, RevocationList, Verifier

ISSUER, AUDIENCE = "https://auth.example.test", "notes-api"


def token_for(key: jwk.Key) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 3600,
        "roles": ["user"],
        "scope": "notes:read",
    }
    return jwt.encode(claims, key, typ="at+jwt")


def batch_size(fn: Callable[[], Any]) -> int:
    """Calls per batch so that a batch takes about 2 ms."""
    n = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        if time.perf_counter_ns() - start > 2_000_000:
            return n
        n *= 2


def measure(cases: dict[str, Callable[[], Any]], seconds: float) -> dict[str, float]:
    """Median ns per call of each case, batches interleaved case by case.

    Interleaving matters on a shared machine: a burst of load then hits
    every case alike instead of whichever one was running.
    """
    sizes = {name: batch_size(fn) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    deadline = time.perf_counter() + seconds * len(cases)
    while time.perf_counter() < deadline or len(samples[next(iter(cases))]) < 7:
        for name, fn in cases.items():
            n = sizes[name]
            start = time.perf_counter_ns()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter_ns() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send(scope)


async def noop_send(message: Any) -> None:
    return None


async def noop_receive() -> Any:
    return {"type": "http.request"}


def drive(app: Any, scope: dict[str, Any]) -> Callable[[], None]:
    def call() -> None:
        coroutine = app(dict(scope), noop_receive, noop_send)
        try:
            coroutine.send(None)
        except StopIteration:
            return
        raise RuntimeError("the middleware awaited something real")

    return call


def bench(alg: str, key: jwk.Key, seconds: float) -> list[tuple[str, float]]:
    token = token_for(key)
    revoked = RevocationList()
    for _ in range(10_000):  # a realistic denylist, so lookups are not in an empty dict
        revoked.revoke(sid=uuid.uuid4().hex, until=time.time() + 900)
    policy: dict[str, Any] = {
        "algorithms": [alg],
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "typ": "at+jwt",
        "revocations": revoked,
    }
    cached = Verifier(key, **policy)
    uncached = Verifier(key, cache_size=0, **policy)
    cached.verify(token)
    scope = {
        "type": "http",
        "path": "/notes",
        "headers": [
            (b"host", b"api.example.test"),
            (b"user-agent", b"bench"),
            (b"accept", b"application/json"),
            (b"authorization", b"Bearer " + token.encode()),
        ],
    }
    cases = {
        "jwt.decode": lambda: jwt.decode(
            token, key, algorithms=[alg], issuer=ISSUER, audience=AUDIENCE, typ="at+jwt"
        ),
        "Verifier.verify, miss": lambda: uncached.verify(token),
        "Verifier.verify, hit": lambda: cached.verify(token),
        "bare": drive(inner, scope),
        "middleware hit": drive(AuthMiddleware(inner, cached), scope),
        "middleware miss": drive(AuthMiddleware(inner, uncached), scope),
    }
    ns = measure(cases, seconds)
    bare = ns["bare"]
    return [
        ("jwt.decode", ns["jwt.decode"]),
        ("Verifier.verify, miss", ns["Verifier.verify, miss"]),
        ("Verifier.verify, hit", ns["Verifier.verify, hit"]),
        ("AuthMiddleware request, miss (minus bare app)", ns["middleware miss"] - bare),
        ("AuthMiddleware request, hit (minus bare app)", ns["middleware hit"] - bare),
        ("(bare inner ASGI app call)", bare),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="per measurement")
    args = parser.parse_args()
    keys = {
        "ES256": jwk.Key.generate("ES256", kid="bench"),
        "HS256": jwk.Key.generate("HS256", kid="bench"),
    }
    for alg, key in keys.items():
        rows = bench(alg, key, args.seconds)
        floor = rows[0][1]
        print(f"\n{alg}")
        for name, ns in rows:
            print(f"  {name:<46} {ns / 1000:9.2f} us   {ns / floor:6.3f}x jwt.decode")


if __name__ == "__main__":
    main()
