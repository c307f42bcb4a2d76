"""``jotgate keys rotate`` and ``jotgate keys list``: the auth server's signing keys.

They work on the server's database (``--database-url`` or
``JOTGATE_DATABASE_URL``) through the server's own key store, so a rotation
made here is picked up by every running server: published in the JWKS at
once, signing after the activation delay, the old key kept until its tokens
have expired.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands
from ._serverdb import with_database
from ._timefmt import parse_duration
from .serve import add_settings_flags

__all__ = ["register"]

_SETTINGS_FLAGS = ("database_url", "access_token_ttl")

_ROTATE_EPILOG = """\
The new key is published in /.well-known/jwks.json at once and starts signing
after --activate-after (default JOTGATE_KEY_ACTIVATION_DELAY, 10m): give
verifiers' JWKS caches that long to fetch it. The key it replaces keeps
verifying, and stays published, until the access-token lifetime (plus a
minute) after the switch. The algorithm is the one signing now (or
JOTGATE_SIGNING_ALG for the first key); JOTGATE_SECRET and
JOTGATE_ACCESS_TOKEN_TTL must be set as for the server.

examples:
  jotgate keys rotate
  jotgate keys rotate --activate-after 30m
  jotgate keys rotate --activate-after 0      # sign with it now (verifiers may lag)
"""


def register(commands: Commands) -> None:
    """Add ``keys rotate`` and ``keys list`` to the ``keys`` group."""
    keys = commands.group("keys", help="generate keys and inspect key files")
    rotate = keys.command(
        "rotate",
        help="add a new server signing key (staged: published now, signs later)",
        handler=_rotate,
        epilog=_ROTATE_EPILOG,
    )
    rotate.add_argument(
        "--activate-after",
        metavar="DURATION",
        help="delay before the new key signs: 90, 15m, 1h (default JOTGATE_KEY_ACTIVATION_DELAY)",
    )
    add_settings_flags(rotate, only=_SETTINGS_FLAGS)
    listing = keys.command(
        "list",
        help="list the server's signing keys: kid, alg, state, created/activates/retires",
        handler=_list,
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_settings_flags(listing, only=_SETTINGS_FLAGS)


def _delay(args: argparse.Namespace, settings: Any) -> float:
    if args.activate_after is None:
        return float(settings.key_activation_delay)
    try:
        seconds = parse_duration(args.activate_after)
    except ValueError as exc:
        raise CliError(f"--activate-after: {exc}", exit_status=USAGE_ERROR) from None
    if seconds < 0:
        raise CliError("--activate-after must not be negative", exit_status=USAGE_ERROR)
    return seconds


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _describe(state: Any) -> dict[str, Any]:
    return {
        "kid": state.kid,
        "alg": state.alg,
        "state": state.state,
        "created_at": _iso(state.created_at),
        "activates_at": _iso(state.activates_at),
        "retires_at": _iso(state.retires_at),
    }


async def _key_store(settings: Any, db: Any) -> Any:
    from jotgate.server.keystore import KeyStore, alg_in_use

    return KeyStore(
        db,
        alg=await alg_in_use(db) or settings.signing_alg,
        secret=settings.secret,
        retain_for=settings.access_token_ttl + 60,
    )


def _rotate(args: argparse.Namespace, console: Console) -> int:
    async def work(settings: Any, db: Any) -> int:
        delay = _delay(args, settings)
        keys = await _key_store(settings, db)
        kid = await keys.rotate(activate_after=delay)
        states = {s.kid: s for s in await keys.states()}
        console.json(_describe(states[kid]))
        when = _iso(states[kid].activates_at)
        console.note(f"key {kid} is published now and signs from {when}")
        return 0

    return with_database(args, work)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    header = ("KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES")
    names = ("kid", "alg", "state", "created_at", "activates_at", "retires_at")
    table = [header] + [tuple(r[n] or "-" for n in names) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]


def _list(args: argparse.Namespace, console: Console) -> int:
    async def work(settings: Any, db: Any) -> int:
        keys = await _key_store(settings, db)
        rows = [_describe(s) for s in await keys.states()]
        if args.json:
            console.json(rows)
        else:
            for line in _table(rows):
                console.print(line)
        return 0

    return with_database(args, work)
