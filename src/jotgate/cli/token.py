"""``jotgate token``: encode, decode (unverified, for people) and verify JWTs."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from .. import _json, jwa, jwk, jwt
from ..errors import ExpiredTokenError, JoseError
from . import _inspect
from ._keyio import add_key_source, load_key_source, read_token
from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands
from ._timefmt import iso_utc, parse_duration, parse_moment, relative

__all__ = ["register"]

_ALGS = sorted(jwa.ALGORITHMS)

_ENCODE_EPILOG = """\
Claim values are JSON when they parse as JSON (numbers, true, false, null,
lists, objects) and strings otherwise: --claim admin=true gives a boolean,
--claim name=ada a string, --claim 'id="7"' the string "7". A name given
twice, by any of the options, is an error.

examples:
  jotgate token encode --key signing.jwk --sub u-42 --aud api --expires-in 15m
  jotgate token encode --secret-env JWT_SECRET --alg HS256 --claim roles='["admin"]'
"""

_DECODE_EPILOG = """\
Shows what a token says WITHOUT checking its signature: anyone can write a
token that decodes. Use 'jotgate token verify' before trusting any of it.
TOKEN may be '-' to read it from stdin (a 'Bearer ' prefix is dropped).
"""

_VERIFY_EPILOG = """\
exit status: 0 valid (the claims are printed), 1 invalid (the reason is
printed as 'jotgate: error: CODE: message'), 2 the command line is wrong.

examples:
  jotgate token verify "$TOKEN" --jwks jwks.json --alg ES256 --iss https://auth --aud api
  jotgate token verify - --secret-file hmac.secret --alg HS256 < token.txt
"""


def register(commands: Commands) -> None:
    """Add the ``token encode``, ``token decode`` and ``token verify`` commands."""
    token = commands.group("token", help="encode, decode and verify JWTs")

    enc = token.command(
        "encode", help="sign a new JWT and print it", handler=_encode, epilog=_ENCODE_EPILOG
    )
    add_key_source(enc, purpose="sign")
    enc.add_argument(
        "--alg",
        choices=_ALGS,
        metavar="ALG",
        help="signing algorithm (default: the key's 'alg', else the key type's)",
    )
    enc.add_argument(
        "--claim", action="append", default=[], metavar="NAME=VALUE", help="a claim (repeatable)"
    )
    enc.add_argument("--claims-json", metavar="JSON", help="claims as one JSON object")
    enc.add_argument(
        "--expires-in", metavar="DURATION", help="set iat and exp: seconds or 45s, 15m, 2h, 14d"
    )
    enc.add_argument("--iss", help="issuer")
    enc.add_argument("--sub", help="subject (always a string)")
    enc.add_argument("--aud", action="append", metavar="AUD", help="audience (repeat for a list)")
    enc.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra protected header parameter, such as kid=2026-11 (repeatable)",
    )
    enc.add_argument("--typ", default="JWT", help="the 'typ' header (default JWT)")

    dec = token.command(
        "decode",
        help="show a token's header and claims (NOT verified)",
        handler=_decode,
        epilog=_DECODE_EPILOG,
    )
    dec.add_argument("token", metavar="TOKEN")
    dec.add_argument("--json", action="store_true", help="machine-readable output")
    dec.add_argument(
        "--now",
        metavar="TIME",
        type=_moment,
        help="judge times as of TIME (epoch seconds or ISO-8601) instead of now",
    )

    ver = token.command(
        "verify",
        help="verify a token's signature and claims",
        handler=_verify,
        epilog=_VERIFY_EPILOG,
    )
    ver.add_argument("token", metavar="TOKEN", help="the token, or '-' to read stdin")
    add_key_source(ver, purpose="verify")
    ver.add_argument(
        "--alg",
        action="append",
        required=True,
        choices=_ALGS,
        metavar="ALG",
        help="an accepted algorithm (required; repeatable)",
    )
    ver.add_argument("--iss", action="append", metavar="ISS", help="accepted issuer (repeatable)")
    ver.add_argument(
        "--aud", action="append", metavar="AUD", help="this service's audience (repeatable)"
    )
    ver.add_argument("--sub", help="required subject")
    ver.add_argument("--typ", help="required 'typ' header, such as at+jwt")
    ver.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="CLAIM",
        help="a claim that must be present (repeatable)",
    )
    ver.add_argument(
        "--leeway",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="clock skew allowed for exp/nbf/iat (default 0)",
    )
    ver.add_argument(
        "--max-age",
        type=_duration,
        metavar="DURATION",
        help="refuse tokens issued longer ago than this",
    )
    ver.add_argument(
        "--now",
        type=_moment,
        metavar="TIME",
        help="verify as of TIME (epoch seconds or ISO-8601) instead of now",
    )
    ver.add_argument(
        "--json",
        action="store_true",
        help='print {"valid": ..., "claims" | "error", "message"} on stdout',
    )


def _moment(text: str) -> float:
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


# Same strictness as token parsing: NaN/Infinity and overflowing numbers are
# not JSON, so such a value stays a string rather than becoming a bad claim.
_VALUE_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def _value(text: str) -> Any:
    try:
        return _VALUE_DECODER.decode(text)
    except ValueError:
        return text


def _pairs(items: list[str], *, option: str, into: dict[str, Any]) -> None:
    for item in items:
        name, eq, raw = item.partition("=")
        if not eq or not name:
            raise CliError(f"{option} wants NAME=VALUE, got {item!r}", exit_status=USAGE_ERROR)
        _put(into, name, _value(raw), option)


def _put(into: dict[str, Any], name: str, value: Any, option: str) -> None:
    if name in into:
        raise CliError(f"{name!r} is given twice (again by {option})", exit_status=USAGE_ERROR)
    into[name] = value


def _encode(args: argparse.Namespace, console: Console) -> int:
    claims: dict[str, Any] = {}
    if args.claims_json is not None:
        try:
            claims = _json.loads_object(args.claims_json.encode(), what="--claims-json")
        except JoseError as exc:
            raise CliError(exc.message, exit_status=USAGE_ERROR) from None
    _pairs(args.claim, option="--claim", into=claims)
    for name in ("iss", "sub"):
        if getattr(args, name) is not None:
            _put(claims, name, getattr(args, name), f"--{name}")
    if args.aud:
        _put(claims, "aud", args.aud[0] if len(args.aud) == 1 else args.aud, "--aud")

    headers: dict[str, Any] = {}
    _pairs(args.header, option="--header", into=headers)
    for reserved, instead in (("alg", "--alg"), ("typ", "--typ")):
        if reserved in headers:
            raise CliError(f"set the {reserved!r} header with {instead}", exit_status=USAGE_ERROR)

    expires_in = None
    if args.expires_in is not None:
        try:
            expires_in = parse_duration(args.expires_in)
        except ValueError as exc:
            raise CliError(f"--expires-in: {exc}", exit_status=USAGE_ERROR) from None

    algorithms = [args.alg] if args.alg else []
    key = load_key_source(args, console, algorithms=algorithms)
    if isinstance(key, jwk.KeySet):
        raise CliError("a JWKS cannot sign: give a file with one private key")
    token = jwt.encode(
        claims,
        key,
        algorithm=args.alg,
        headers=headers or None,
        expires_in=expires_in,
        typ=args.typ,
    )
    if expires_in is None and "exp" not in claims:
        console.warn("the token has no 'exp' and never expires (see --expires-in)")
    console.print(token)
    return 0


def _decode(args: argparse.Namespace, console: Console) -> int:
    token = read_token(args.token)
    header, claims = jwt.decode_unverified(token)
    view = _inspect.inspect(token, header, claims, now=args.now)
    if args.json:
        console.json(view)
    else:
        _inspect.show(view, console)
    return 0


def _verify(args: argparse.Namespace, console: Console) -> int:
    if args.token == "-" and "-" in (args.key, getattr(args, "jwks", None)):
        raise CliError("the token and the key cannot both come from stdin", exit_status=USAGE_ERROR)
    token = read_token(args.token)
    key = load_key_source(args, console, algorithms=args.alg)
    issuer = None if not args.iss else args.iss[0] if len(args.iss) == 1 else args.iss
    audience = None if not args.aud else args.aud[0] if len(args.aud) == 1 else args.aud
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=args.alg,
            issuer=issuer,
            audience=audience,
            subject=args.sub,
            leeway=args.leeway,
            required=tuple(args.require),
            max_age=args.max_age,
            typ=args.typ,
            now=args.now,
        )
    except JoseError as exc:
        message = exc.message
        if isinstance(exc, ExpiredTokenError):
            now = args.now if args.now is not None else _inspect.clock()
            when = iso_utc(exc.expired_at) or exc.expired_at
            # expired_at is exp, or iat + max_age: say when, not which.
            message += f" (at {when}, {relative(exc.expired_at, now)})"
        if args.json:
            console.json({"valid": False, "error": exc.code, "message": message})
        raise CliError(f"{exc.code}: {message}") from None
    if args.json:
        console.json({"valid": True, "claims": claims})
    else:
        console.json(claims)
    return 0
