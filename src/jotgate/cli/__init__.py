"""The ``jotgate`` command line: keys and tokens from a terminal.

Examples::

    jotgate keys generate --alg ES256 --out signing.jwk > signing.pub.jwk
    jotgate token encode --key signing.jwk --sub u-42 --expires-in 15m
    jotgate token decode "$TOKEN"
    jotgate token verify "$TOKEN" --key signing.pub.jwk --alg ES256

Adding a command group: write ``jotgate/cli/<name>.py`` with
``register(commands: Commands) -> None`` (see :mod:`jotgate.cli._registry`)
and add its module name to :data:`COMMAND_GROUPS`. The parser is built on
every run, on installs without the server extras too, so a group module and
its ``register`` import only the core library; anything heavier (FastAPI,
SQLAlchemy...) is imported inside the handler that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import JoseError
from ._output import Console
from ._registry import CliError, Commands

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

#: Modules (under ``jotgate.cli``) that add commands, in ``--help`` order.
COMMAND_GROUPS: tuple[str, ...] = (
    "keys",
    "keys_admin",
    "token",
    "serve",
    "users",
    "gateway",
    "audit",
    "demo",
)

_EPILOG = """\
exit status: 0 success, 1 failure (bad input, invalid token), 2 usage error.
Colour only on a terminal; NO_COLOR=1 or --color never turns it off.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full ``jotgate`` parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="jotgate",
        description="jotgate: JWT keys and tokens from the command line.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jotgate {__version__}")
    parser.add_argument(
        "--color",
        "--colour",
        dest="color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour output: auto (default), always or never",
    )
    commands = Commands(parser)
    for name in COMMAND_GROUPS:
        importlib.import_module(f"{__name__}.{name}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``jotgate`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits for --help/--version (0) and usage errors (2);
        # returning instead lets callers (and tests) run main in-process.
        return exc.code if isinstance(exc.code, int) else 2
    console = Console.for_process(args.color)
    try:
        status: int = args.handler(args, console)
    except CliError as exc:
        console.error(exc.message)
        return exc.exit_status
    except JoseError as exc:
        console.error(f"{exc.code}: {exc.message}")
        return 1
    except BrokenPipeError:
        # The reader went away (| head): not worth a message, but Python's
        # final flush of stdout would fail again, so point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    return status
