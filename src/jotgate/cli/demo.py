"""``jotgate demo``: auth server, gateway and two sample services, with a guided walk-through.

Everything runs in this one process on 127.0.0.1 with a throw-away SQLite
database; the walk-through (register, log in, call a service through the
gateway, watch the access token expire, refresh, log out and be refused)
is printed as curl commands to paste into another terminal. Ctrl-C stops
everything and removes the data. ``--run`` executes the walk-through itself,
checks every step and exits 0 only when all behaved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from ..durations import parse_duration
from ._output import BOLD, GREEN, RED, Console
from ._registry import USAGE_ERROR, CliError, Commands

__all__ = ["register"]

_EPILOG = """\
examples:
  jotgate demo                       # start, print the curl walk-through, wait for Ctrl-C
  jotgate demo --port-base 9000      # auth 9000, gateway 9001, notes 9002, hello 9003
  jotgate demo --run                 # run the walk-through itself (2 s tokens), then stop
"""


def register(commands: Commands) -> None:
    """Add ``jotgate demo``."""
    parser = commands.command(
        "demo",
        help="try it all locally: auth server, gateway, two services",
        handler=_demo,
        description=__doc__,
        epilog=_EPILOG,
    )
    parser.add_argument(
        "--port-base",
        type=int,
        metavar="PORT",
        help="listen on PORT..PORT+3 (auth, gateway, notes, hello); default: free ports",
    )
    parser.add_argument(
        "--access-ttl",
        metavar="DURATION",
        help="access token lifetime (default 20s; 2s with --run)",
    )
    parser.add_argument(
        "--run",
        "--self-test",
        dest="run",
        action="store_true",
        help="execute the walk-through with httpx, print each step's result, then stop",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="servers' log level (default warning)",
    )


def _options(args: argparse.Namespace) -> Any:
    from jotgate.demo.stack import DemoOptions

    raw = args.access_ttl or ("2s" if args.run else "20s")
    try:
        ttl = parse_duration(raw)
    except (TypeError, ValueError):
        raise CliError(f"--access-ttl: not a duration: {raw!r}", exit_status=USAGE_ERROR) from None
    # The server counts token lifetimes in whole seconds.
    if ttl < 1 or ttl != int(ttl):
        raise CliError(
            "--access-ttl: a whole number of seconds, at least 1", exit_status=USAGE_ERROR
        )
    if args.port_base is not None and not 1 <= args.port_base <= 65532:
        raise CliError("--port-base: between 1 and 65532", exit_status=USAGE_ERROR)
    return DemoOptions(access_ttl=int(ttl), port_base=args.port_base, log_level=args.log_level)


def _demo(args: argparse.Namespace, console: Console) -> int:
    try:
        from jotgate.demo.stack import DemoError
    except ImportError as exc:
        raise CliError(
            f"the demo needs the server extra: pip install 'jotgate[server]' ({exc.name})"
        ) from None
    options = _options(args)
    try:
        return asyncio.run(_main(options, args.run, console))
    except DemoError as exc:
        raise CliError(str(exc)) from None


async def _main(options: Any, run: bool, console: Console) -> int:
    from jotgate.demo.stack import Stack
    from jotgate.demo.walkthrough import banner, walkthrough

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # The stack is stopped in order below; a second Ctrl-C while that
        # happens is ignored rather than leaving servers and data behind.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    stack = Stack(options)
    try:
        await stack.start()
        urls = stack.urls
        console.print(
            banner(
                urls,
                data_dir=str(stack.data_dir),
                access_ttl=options.access_ttl,
                poll_interval=options.poll_interval,
            )
        )
        if run:
            return await _self_test(stack, stop, console)
        console.print("Paste these into another terminal (bash or zsh):\n")
        console.print(walkthrough(urls, access_ttl=options.access_ttl))
        console.print(console.paint("Press Ctrl-C to stop everything.", BOLD))
        await stop.wait()
        console.print("\nstopping: gateway, auth server, services; removing the data")
        return 0
    finally:
        await stack.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def _self_test(stack: Any, stop: asyncio.Event, console: Console) -> int:
    from jotgate.demo.selftest import Step, run_walkthrough

    def report(step: Step) -> None:
        mark = console.paint("ok  ", GREEN) if step.ok else console.paint("FAIL", BOLD, RED)
        console.print(f"  {mark} {step.number:2d}. {step.title:<46} {step.seen}")

    walk = asyncio.create_task(run_walkthrough(stack.urls, report))
    interrupted = asyncio.create_task(stop.wait())
    await asyncio.wait({walk, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    if not walk.done():
        walk.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await walk
        console.print("\ninterrupted")
        return 130
    interrupted.cancel()
    steps = walk.result()
    failed = [s for s in steps if not s.ok]
    if failed:
        console.print(f"\n{len(failed)} of {len(steps)} steps misbehaved")
        return 1
    console.print(f"\nall {len(steps)} steps behaved")
    return 0
