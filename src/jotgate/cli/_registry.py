"""How command groups plug into the ``jotgate`` parser.

A command-group module exposes ``register(commands: Commands) -> None`` and
adds its commands through the small :class:`Commands` / :class:`Group` faces
below rather than through raw argparse objects, for two reasons:

* two modules can add commands to one group (``keys rotate`` lives with the
  server, ``keys generate`` here) because :meth:`Commands.group` returns the
  existing group when it is asked for a second time;
* every command gets the same help formatting and the ``--color`` option, and
  binds exactly one handler, so :func:`jotgate.cli.main` can run any of them
  the same way.

Registration must stay cheap and import nothing beyond the core library: the
parser is built on every run, including on a core-only install that has no
FastAPI. A handler imports what it needs in its own body.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from ._output import Console

__all__ = ["USAGE_ERROR", "CliError", "Commands", "Group", "Handler"]

#: ``handler(args, console) -> exit status``
Handler: TypeAlias = Callable[[argparse.Namespace, Console], int]

#: Exit status for a command line that is wrong in itself (argparse uses 2 too).
USAGE_ERROR = 2


class CliError(Exception):
    """A failure to report as one ``jotgate: error: ...`` line and an exit status.

    ``exit_status`` is 1 for bad input (files, keys, tokens) and
    :data:`USAGE_ERROR` for a command line that cannot work as written.
    """

    def __init__(self, message: str, *, exit_status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_status = exit_status


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a leaf's default from overwriting a value given before the
    # command name (``jotgate --color never token decode ...``).
    common.add_argument(
        "--color",
        "--colour",
        dest="color",
        choices=("auto", "always", "never"),
        default=argparse.SUPPRESS,
        help="colour output: auto (default: only on a terminal, and not when NO_COLOR is set), "
        "always or never",
    )
    return common


class Group:
    """A command group such as ``keys``: a name under which commands are added."""

    def __init__(
        self,
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
        common: argparse.ArgumentParser,
    ) -> None:
        self._subparsers = subparsers
        self._common = common

    def command(
        self,
        name: str,
        *,
        help: str,
        handler: Handler,
        description: str | None = None,
        epilog: str | None = None,
    ) -> argparse.ArgumentParser:
        """Add ``name`` to this group and return its parser, for arguments.

        Example::

            p = keys.command("public", help="print the public JWK", handler=_public)
            p.add_argument("file")
        """
        parser = self._subparsers.add_parser(
            name,
            help=help,
            description=description or help,
            epilog=epilog,
            parents=[self._common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(handler=handler)
        return parser


class Commands:
    """The top level of the ``jotgate`` command line, handed to each ``register``."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._subparsers = parser.add_subparsers(
            dest="command", metavar="COMMAND", title="commands", required=True
        )
        self._common = _common_options()
        self._groups: dict[str, Group] = {}

    def group(self, name: str, *, help: str, description: str | None = None) -> Group:
        """The group ``name``, created on first use (``help`` is taken from that call).

        Example::

            def register(commands: Commands) -> None:
                keys = commands.group("keys", help="generate and inspect keys")
                keys.command("rotate", help="...", handler=_rotate)
        """
        existing = self._groups.get(name)
        if existing is not None:
            return existing
        parser = self._subparsers.add_parser(
            name,
            help=help,
            description=description or help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub = parser.add_subparsers(
            dest=f"{name}_command", metavar="COMMAND", title="commands", required=True
        )
        group = Group(sub, self._common)
        self._groups[name] = group
        return group

    def command(
        self,
        name: str,
        *,
        help: str,
        handler: Handler,
        description: str | None = None,
        epilog: str | None = None,
    ) -> argparse.ArgumentParser:
        """Add a top-level command without subcommands (such as ``serve``)."""
        return Group(self._subparsers, self._common).command(
            name, help=help, handler=handler, description=description, epilog=epilog
        )
