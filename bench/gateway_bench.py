"""The gateway under load, next to the same upstream called directly and behind nginx.

Usage::

    python bench/gateway_bench.py                 # full run, writes its section of RESULTS.md
    python bench/gateway_bench.py --quick         # smoke run (2 s cases, 1 round), no file written
    python bench/gateway_bench.py --duration 5 --rounds 5 --connections 16 --profile

In one run:

- HTTP throughput (requests/s) and latency (p50/p99, wrk's) of one trivial
  upstream (a bare ASGI app under uvicorn), reached five ways: ``direct``;
  through the jotgate gateway on a token-checked route (``gateway``) and on a
  public route (``gateway-public``: the proxying alone); through nginx with
  ``auth_request`` against the auth server's ``GET /auth/verify``, using the
  shipped ``deploy/nginx`` config (``nginx-auth``), and nginx's public
  location (``nginx-plain``). Every request carries the same valid access
  token, issued by a real auth server; any non-2xx answer voids the sample.
- The verifier's cost per call with and without its cache, and the ASGI
  middleware's cost per request against a bare ``jwt.decode``
  (``middleware_bench.py``'s measurement, run before any server starts).

Each case runs once per round, cases shuffled anew each round, so a noisy
neighbour on the shared machine lands on every case alike; cells are medians
over rounds. ``--profile`` (also on by itself when the gateway misses its
target) runs the gateway once more under cProfile and reports where its time goes.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from gateway_procs import (
    Proc,
    free_port,
    gateway_argv,
    nginx_binary,
    profiled_gateway_argv,
    spawn,
    start_nginx,
    uvicorn_argv,
)
from gateway_report import RESULTS, Micro, Run, console_report, write_section
from gateway_wrk import run_wrk

CASES = ("direct", "gateway", "gateway-public", "floor-proxy", "nginx-auth", "nginx-plain")
CLIENT_ID = "bench-gateway"
USER = {"username": "bench-user", "password": "bench-lantern-73-wombat"}


def micro(seconds: float, repeats: int) -> list[Micro]:
    """middleware_bench's rows for ES256 and HS256, the median of ``repeats`` runs each."""
    import middleware_bench
    from jotgate import jwk

    out = []
    for alg in ("ES256", "HS256"):
        key = jwk.Key.generate(alg, kid="bench")
        runs = [middleware_bench.bench(alg, key, seconds) for _ in range(repeats)]
        for i, (name, _) in enumerate(runs[0]):
            out.append(Micro(alg, name, [run[i][1] for run in runs]))
    return out


class Servers:
    """Upstream, auth server, gateway and nginx, started in that order and stopped together."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: dict[str, Proc] = {}
        self.secret = secrets.token_urlsafe(24)
        self.token = ""

    def start(self, nginx: str | None) -> None:
        port = free_port()
        self.procs["upstream"] = spawn(
            "upstream", uvicorn_argv("gateway_procs:upstream_app", port), self.work, {}, port
        )
        self._start_auth()
        self.token = self._login()
        self.procs["gateway"] = self._start_gateway("gateway")
        port = free_port()
        floor = {"FLOOR_UPSTREAM": self.procs["upstream"].url.removeprefix("http://")}
        argv = uvicorn_argv("gateway_procs:floor_app", port)
        self.procs["floor"] = spawn("floor-proxy", argv, self.work, floor, port)
        if nginx is not None:
            self.procs["nginx"] = start_nginx(
                nginx,
                self.work,
                auth=self.procs["auth"].url.removeprefix("http://"),
                app=self.procs["upstream"].url.removeprefix("http://"),
            )

    def _start_auth(self) -> None:
        port = free_port()
        env = {
            "JOTGATE_DATABASE_URL": f"sqlite+aiosqlite:///{self.work / 'auth.db'}",
            "JOTGATE_HOST": "127.0.0.1",
            "JOTGATE_PORT": str(port),
            # One token for the whole run: it must not expire mid-bench.
            "JOTGATE_ACCESS_TOKEN_TTL": "4h",
            "JOTGATE_INTROSPECTION_CLIENTS": f"{CLIENT_ID}:{self.secret}",
            "JOTGATE_SECRET": secrets.token_urlsafe(24),
        }
        argv = uvicorn_argv("jotgate.server:create_app", port)
        self.procs["auth"] = spawn("auth", argv, self.work, env, port)

    def _login(self) -> str:
        base = self.procs["auth"].url
        with httpx.Client(base_url=base, timeout=30) as client:
            client.post("/auth/register", json=USER).raise_for_status()
            answer = client.post("/auth/login", json=USER)
            answer.raise_for_status()
            token: str = answer.json()["access_token"]
            return token

    def gateway_options(self) -> dict[str, Any]:
        """The gateway's settings: /api checks the token, /public does not."""
        upstream = self.procs["upstream"].url
        return {
            "auth": self.procs["auth"].url,
            "client_id": CLIENT_ID,
            "routes": [f"/api={upstream}"],
            "public": [f"/public={upstream}"],
        }

    def gateway_env(self) -> dict[str, str]:
        """The client secret for the revocation feed, where ``jotgate gateway`` reads it."""
        return {"JOTGATE_GATEWAY_CLIENT_SECRET": self.secret}

    def _start_gateway(self, name: str) -> Proc:
        port = free_port()
        argv = gateway_argv(port, **self.gateway_options())
        return spawn(name, argv, self.work, self.gateway_env(), port)

    def url(self, case: str) -> str:
        """The URL wrk loads for ``case``."""
        p = self.procs
        return {
            "direct": p["upstream"].url + "/api/items",
            "gateway": p["gateway"].url + "/api/items",
            "gateway-public": p["gateway"].url + "/public/items",
            "floor-proxy": p["floor"].url + "/api/items",
            "nginx-auth": p["nginx"].url + "/api/items" if "nginx" in p else "",
            "nginx-plain": p["nginx"].url + "/public/items" if "nginx" in p else "",
        }[case]

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


def check_answers(servers: Servers, cases: list[str]) -> None:
    """Every case answers 200 with the token before anything is timed."""
    headers = {"Authorization": f"Bearer {servers.token}"}
    for case in cases:
        answer = httpx.get(servers.url(case), headers=headers, timeout=10)
        if answer.status_code != 200:
            raise SystemExit(f"{case}: {answer.status_code} {answer.text[:300]}")


def profile_gateway(servers: Servers, args: argparse.Namespace) -> str:
    """The gateway once more, under cProfile, loaded by wrk; the top of its profile."""
    port = free_port()
    stats = servers.work / "gateway.prof"
    argv = profiled_gateway_argv(stats, port, **servers.gateway_options())
    proc = spawn("gateway-profiled", argv, servers.work, servers.gateway_env(), port)
    try:
        run_wrk(
            proc.url + "/api/items",
            token=servers.token,
            connections=args.connections,
            seconds=args.duration,
        )
    finally:
        proc.stop()
    from gateway_report import summarize_profile

    return summarize_profile(stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per case (5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every case (5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--micro-seconds", type=float, default=0.3, help="per micro case")
    parser.add_argument("--micro-repeats", type=int, default=7, help="micro runs (7)")
    parser.add_argument("--profile", action="store_true", help="profile the gateway too")
    parser.add_argument("--quick", action="store_true", help="2 s cases, 1 round, no file")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to update")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.micro_seconds = 2.0, 1, 0.1
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    run = Run.begin(" ".join(["python", "bench/gateway_bench.py", *sys.argv[1:]]), args, seed)

    print("micro: verifier and middleware (no server running yet)...", flush=True)
    run.micro = micro(args.micro_seconds, 1 if args.quick else args.micro_repeats)

    nginx = nginx_binary()
    if nginx is None:
        run.notes.append("nginx is not installed: the nginx cases were not run")
    cases = [c for c in CASES if nginx is not None or not c.startswith("nginx")]
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    servers = Servers(work)
    try:
        servers.start(nginx)
        check_answers(servers, cases)
        run.versions_note(nginx)
        for case in cases:  # warm-up: JIT-free Python still fills caches and pools
            run_wrk(servers.url(case), token=servers.token, connections=args.connections, seconds=1)
        for r in range(args.rounds):
            order = rng.sample(cases, len(cases))
            for case in order:
                result = run_wrk(
                    servers.url(case),
                    token=servers.token,
                    connections=args.connections,
                    seconds=args.duration,
                )
                run.add(case, result)
                print(f"round {r + 1}/{args.rounds} {case:<15} {result.line()}", flush=True)
        ratio = run.ratio("gateway", "direct")
        if args.profile or (ratio is not None and ratio < 0.5):
            print("profiling the gateway under load...", flush=True)
            run.profile = profile_gateway(servers, args)
    finally:
        servers.stop()
        run.load_end = os.getloadavg()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(console_report(run))
    if not args.quick:
        write_section(args.out, run)
        print(f"\nwrote the gateway section of {args.out}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({(time.monotonic() - started) / 60:.1f} min)")
