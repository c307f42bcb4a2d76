"""``jotgate keys rotate|list|export``: the auth server's signing and encryption keys.

They work on the server's database (``--database-url`` or
``JOTGATE_DATABASE_URL``) through the server's own key store, so a rotation
made here is picked up by every running server: published in the JWKS at
once, signing after the activation delay, the old key kept until its tokens
have expired. ``--use enc`` does the same for the access-token encryption
keys; ``keys export --use enc --private`` writes the JWK Set that verifiers
(gateway, middleware) decrypt with. Private keys never leave through HTTP.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._keyio import write_private_file
from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands
from ._serverdb import with_database
from ._timefmt import parse_duration
from .serve import add_settings_flags

__all__ = ["register"]

_SETTINGS_FLAGS = ("database_url", "access_token_ttl", "access_token_encryption")
_USE_HELP = "sig: signing keys (default); enc: access-token encryption keys"

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
  jotgate keys rotate --use enc               # then: keys export --use enc --private
"""

_EXPORT_EPILOG = """\
--use sig writes the public JWK Set (what /.well-known/jwks.json serves).
--use enc --private writes the encryption keys that still decrypt (pending,
active, retiring), private members included, to a new file readable by its
owner only: hand it to every gateway and middleware that verifies encrypted
access tokens, again after each `keys rotate --use enc` and before the new
key activates. Signing keys' private halves are never exported.

examples:
  jotgate keys export --out jwks.json
  jotgate keys export --use enc --private --out /etc/jotgate/token-decryption.jwks
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
    rotate.add_argument("--use", choices=("sig", "enc"), default="sig", help=_USE_HELP)
    add_settings_flags(rotate, only=_SETTINGS_FLAGS)
    listing = keys.command(
        "list",
        help="list the server's keys: kid, alg, state, created/activates/retires",
        handler=_list,
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--use", choices=("sig", "enc"), default="sig", help=_USE_HELP)
    add_settings_flags(listing, only=_SETTINGS_FLAGS)
    export = keys.command(
        "export",
        help="write the server's keys as a JWK Set for verifiers",
        handler=_export,
        epilog=_EXPORT_EPILOG,
    )
    export.add_argument("--use", choices=("sig", "enc"), default="sig", help=_USE_HELP)
    export.add_argument(
        "--private", action="store_true", help="include private members (only with --use enc)"
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the file to create")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    add_settings_flags(export, only=_SETTINGS_FLAGS)


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


async def _key_store(settings: Any, db: Any, use: str = "sig") -> Any:
    from jotgate.server.keystore import ENCRYPTION, SIGNING, KeyStore, alg_in_use

    if use == "sig":
        alg = await alg_in_use(db) or settings.signing_alg
    else:
        if settings.access_token_key:
            raise CliError(
                "the encryption keys come from JOTGATE_ACCESS_TOKEN_KEY: rotate them there "
                "(put the new secret first)",
                exit_status=USAGE_ERROR,
            )
        configured = settings.access_token_encryption
        alg = await alg_in_use(db, ENCRYPTION) or (None if configured == "off" else configured)
        if alg is None:
            raise CliError(
                "no encryption keys: set JOTGATE_ACCESS_TOKEN_ENCRYPTION "
                "(ECDH-ES+A256KW or dir) as the server has it",
                exit_status=USAGE_ERROR,
            )
    return KeyStore(
        db,
        alg=alg,
        secret=settings.secret,
        retain_for=settings.access_token_ttl + 60,
        kind=SIGNING if use == "sig" else ENCRYPTION,
    )


def _rotate(args: argparse.Namespace, console: Console) -> int:
    async def work(settings: Any, db: Any) -> int:
        delay = _delay(args, settings)
        keys = await _key_store(settings, db, args.use)
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
        keys = await _key_store(settings, db, args.use)
        rows = [_describe(s) for s in await keys.states()]
        if args.json:
            console.json(rows)
        else:
            for line in _table(rows):
                console.print(line)
        return 0

    return with_database(args, work)


def _export(args: argparse.Namespace, console: Console) -> int:
    if args.private and args.use != "enc":
        raise CliError(
            "--private is for --use enc: signing keys' private halves never leave the server",
            exit_status=USAGE_ERROR,
        )

    async def work(settings: Any, db: Any) -> int:
        import json

        keys = await _key_store(settings, db, args.use)
        if args.use == "sig":
            document = await keys.public_jwks()
        elif args.private:
            document = (await keys.accepted()).to_jwks(private=True)
        else:
            raise CliError(
                "verifiers decrypt, so they need --private; the public encryption keys "
                "are of use to the server alone",
                exit_status=USAGE_ERROR,
            )
        data = (json.dumps(document, indent=2) + "\n").encode()
        write_private_file(args.out, data, force=args.force)
        kids = ", ".join(k["kid"] for k in document["keys"]) or "none"
        console.note(f"wrote {len(document['keys'])} key(s) to {args.out}: {kids}")
        return 0

    return with_database(args, work)
