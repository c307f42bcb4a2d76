"""``jotgate user``: manage accounts of the auth server's database directly.

The commands run the server's own services (same password policy, same
session revocation), against the database named by ``--database-url`` or
``JOTGATE_DATABASE_URL``. Passwords are read from a prompt on a terminal, or
one line of standard input otherwise; never from the command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ._output import Console
from ._registry import CliError, Commands
from .serve import add_settings_flags, server_settings

__all__ = ["register"]

_SETTINGS_FLAGS = ("database_url", "redis_url")


def register(commands: Commands) -> None:
    """Add ``jotgate user create|list|disable|enable|set-password|roles`` (alias ``users``)."""
    _add_commands(commands.group("user", help="manage auth server accounts"))
    # The registry lists groups by module name; ``users`` is also the plural people type.
    _add_commands(commands.group("users", help="same as: jotgate user"))


def _add_commands(user: Any) -> None:

    create = user.command("create", help="create an account", handler=_create)
    create.add_argument("username")
    create.add_argument(
        "--role", action="append", default=[], metavar="ROLE", help="a role (repeatable)"
    )
    add_settings_flags(create, only=_SETTINGS_FLAGS)

    listing = user.command("list", help="list accounts as JSON", handler=_list)
    add_settings_flags(listing, only=_SETTINGS_FLAGS)

    for name, text, handler in (
        ("disable", "disable an account and end all its sessions", _disable),
        ("enable", "enable a disabled account", _enable),
        ("set-password", "set a new password and end all sessions", _set_password),
    ):
        parser = user.command(name, help=text, handler=handler)
        parser.add_argument("username")
        add_settings_flags(parser, only=_SETTINGS_FLAGS)

    roles = user.command("roles", help="show or change an account's roles", handler=_roles)
    roles.add_argument("username")
    roles.add_argument("--add", action="append", default=[], metavar="ROLE")
    roles.add_argument("--remove", action="append", default=[], metavar="ROLE")
    roles.add_argument("--set", dest="set_roles", metavar="ROLE,ROLE", help="replace all roles")
    add_settings_flags(roles, only=_SETTINGS_FLAGS)


def _read_password(console: Console, *, confirm: bool) -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if confirm and getpass.getpass("again: ") != first:
            raise CliError("the passwords do not match")
        return first
    line = sys.stdin.readline()
    if not line:
        raise CliError("no password on standard input")
    return line.rstrip("\r\n")


def _with_runtime(
    args: argparse.Namespace, console: Console, work: Callable[[Any], Awaitable[int]]
) -> int:
    settings = server_settings(args)
    import asyncio

    from jotgate.server.errors import ApiError
    from jotgate.server.runtime import open_runtime

    async def main() -> int:
        try:
            runtime = await open_runtime(settings)
        except Exception as exc:
            raise CliError(f"cannot open the database: {type(exc).__name__}: {exc}") from None
        try:
            return await work(runtime)
        except ApiError as exc:
            raise CliError(f"{exc.code}: {exc.message}") from None
        finally:
            await runtime.close()

    return asyncio.run(main())


def _describe(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "roles": list(user.roles),
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


def _create(args: argparse.Namespace, console: Console) -> int:
    password = _read_password(console, confirm=True)

    async def work(runtime: Any) -> int:
        user = await runtime.users.register(args.username, password, roles=args.role)
        console.json(_describe(user))
        return 0

    return _with_runtime(args, console, work)


def _list(args: argparse.Namespace, console: Console) -> int:
    async def work(runtime: Any) -> int:
        console.json([_describe(u) for u in await runtime.users.list()])
        return 0

    return _with_runtime(args, console, work)


def _toggle(args: argparse.Namespace, console: Console, *, disabled: bool) -> int:
    async def work(runtime: Any) -> int:
        user = await runtime.users.by_username(args.username)
        await runtime.users.set_disabled(user.id, disabled)
        console.note(f"{user.username} {'disabled' if disabled else 'enabled'}")
        return 0

    return _with_runtime(args, console, work)


def _disable(args: argparse.Namespace, console: Console) -> int:
    return _toggle(args, console, disabled=True)


def _enable(args: argparse.Namespace, console: Console) -> int:
    return _toggle(args, console, disabled=False)


def _set_password(args: argparse.Namespace, console: Console) -> int:
    password = _read_password(console, confirm=True)

    async def work(runtime: Any) -> int:
        user = await runtime.users.by_username(args.username)
        await runtime.users.set_password(user.id, password)
        console.note(f"password of {user.username} changed; all its sessions ended")
        return 0

    return _with_runtime(args, console, work)


def _roles(args: argparse.Namespace, console: Console) -> int:
    async def work(runtime: Any) -> int:
        user = await runtime.users.by_username(args.username)
        if args.set_roles is not None:
            roles = set(filter(None, (r.strip() for r in args.set_roles.split(","))))
        else:
            roles = set(user.roles)
        roles |= set(args.add)
        roles -= set(args.remove)
        if args.set_roles is not None or args.add or args.remove:
            console.json(await runtime.users.set_roles(user.id, roles))
        else:
            console.json(list(user.roles))
        return 0

    return _with_runtime(args, console, work)
