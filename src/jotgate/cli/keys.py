"""``jotgate keys``: generate a key, show its public half, compute its thumbprint."""

from __future__ import annotations

import argparse
import json
import os

from .. import jwa, jwk
from ._keyio import load_key, write_private_file
from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands

__all__ = ["register"]

_GENERATE_EPILOG = """\
Private key material is never printed by accident: it goes to --out FILE,
created with mode 0600 (an existing file is refused unless --force), as a
private JWK, or as PKCS#8 PEM when FILE ends in .pem. The public JWK goes to
stdout, ready for a JWKS. To print the private JWK instead (for a secret
manager, say) ask for it with --private-to-stdout.

HS256/384/512 keys are random secrets of the hash's length; they have no
public half, so nothing is printed to stdout.

examples:
  jotgate keys generate --alg ES256 --out signing.jwk > signing.pub.jwk
  jotgate keys generate --alg RS256 --size 3072 --kid 2026-11 --out rsa.pem
  jotgate keys generate --alg HS256 --out hmac.jwk
"""


def register(commands: Commands) -> None:
    """Add the ``keys generate``, ``keys public`` and ``keys thumbprint`` commands."""
    keys = commands.group("keys", help="generate keys and inspect key files")

    gen = keys.command(
        "generate",
        help="generate a new signing key",
        handler=_generate,
        epilog=_GENERATE_EPILOG,
    )
    gen.add_argument(
        "--alg",
        required=True,
        choices=sorted(jwa.ALGORITHMS),
        metavar="ALG",
        help="the algorithm the key is for: " + ", ".join(sorted(jwa.ALGORITHMS)),
    )
    gen.add_argument("--kid", help="key id (default: the RFC 7638 thumbprint; none for HS*)")
    gen.add_argument("--size", type=int, metavar="BITS", help="RSA modulus size (default 2048)")
    where = gen.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE", help="write the private key here (mode 0600)")
    where.add_argument(
        "--private-to-stdout",
        action="store_true",
        help="print the private JWK to stdout instead of writing a file",
    )
    gen.add_argument("--force", action="store_true", help="replace FILE if it exists")
    gen.add_argument(
        "--password-env",
        metavar="VAR",
        help="encrypt a .pem output with the password in environment variable VAR",
    )

    pub = keys.command(
        "public",
        help="print the public JWK (or JWKS) of a key file",
        handler=_public,
        epilog="The file may hold PEM, DER, a JWK or a JWKS; '-' reads stdin.",
    )
    pub.add_argument("file", metavar="FILE")
    pub.add_argument("--pem", action="store_true", help="print SubjectPublicKeyInfo PEM instead")
    pub.add_argument(
        "--password-env",
        metavar="VAR",
        help="password of an encrypted PEM key, from environment variable VAR",
    )

    thumb = keys.command(
        "thumbprint",
        help="print the RFC 7638 thumbprint of a key (one line per key of a JWKS)",
        handler=_thumbprint,
    )
    thumb.add_argument("file", metavar="FILE")
    thumb.add_argument(
        "--hash",
        default="sha256",
        choices=("sha256", "sha384", "sha512"),
        help="hash function (default sha256)",
    )
    thumb.add_argument(
        "--password-env",
        metavar="VAR",
        help="password of an encrypted PEM key, from environment variable VAR",
    )


def _generate(args: argparse.Namespace, console: Console) -> int:
    row = jwa.ALGORITHMS[args.alg]
    if args.size is not None and row.kty != "RSA":
        raise CliError(f"--size applies to RSA keys only, not {args.alg}", exit_status=USAGE_ERROR)
    if args.out is None and not args.private_to_stdout:
        raise CliError(
            "refusing to print a private key: give --out FILE "
            "(or --private-to-stdout if you really want it on stdout)",
            exit_status=USAGE_ERROR,
        )
    as_pem = args.out is not None and args.out.lower().endswith(".pem")
    if as_pem and row.kty == "oct":
        raise CliError(
            f"{args.alg} secrets have no PEM form; use a .jwk or .json file",
            exit_status=USAGE_ERROR,
        )
    if args.password_env and not as_pem:
        raise CliError("--password-env applies to .pem output only", exit_status=USAGE_ERROR)
    if args.force and args.out is None:
        raise CliError("--force applies to --out only", exit_status=USAGE_ERROR)

    key = jwk.Key.generate(args.alg, kid=args.kid, size=args.size)

    if args.private_to_stdout:
        console.warn("the output below is a PRIVATE key: keep it out of logs and history")
        console.json(key.to_jwk(private=True))
        return 0

    if as_pem:
        password = None
        if args.password_env:
            password = os.environ.get(args.password_env)
            if not password:
                raise CliError(f"environment variable {args.password_env} is not set or empty")
        data = key.to_pem(private=True, password=password)
    else:
        # Plain JSON, not the display renderer: this is a file for programs.
        data = (json.dumps(key.to_jwk(private=True), indent=2) + "\n").encode()
    write_private_file(args.out, data, force=args.force)

    what = "secret" if key.is_symmetric else "private key"
    kid = f" (kid {key.kid})" if key.kid else ""
    console.note(f"wrote {args.alg} {what}{kid} to {args.out} (mode 0600)")
    if not key.is_symmetric:
        console.json(key.to_jwk(private=False))
    return 0


def _public(args: argparse.Namespace, console: Console) -> int:
    loaded = load_key(args.file, password_env=args.password_env)
    keys = list(loaded) if isinstance(loaded, jwk.KeySet) else [loaded]
    if any(key.is_symmetric for key in keys):
        raise CliError("a secret (oct) key has no public part")
    if args.pem:
        for key in keys:
            console.print(key.to_pem(private=False).decode().rstrip("\n"))
        return 0
    if isinstance(loaded, jwk.KeySet):
        console.json(loaded.to_jwks(private=False))
    else:
        console.json(loaded.to_jwk(private=False))
    return 0


def _thumbprint(args: argparse.Namespace, console: Console) -> int:
    loaded = load_key(args.file, password_env=args.password_env)
    if isinstance(loaded, jwk.KeySet):
        for key in loaded:
            console.print(f"{key.thumbprint(args.hash)}  {key.kid or '-'}")
    else:
        console.print(loaded.thumbprint(args.hash))
    return 0
