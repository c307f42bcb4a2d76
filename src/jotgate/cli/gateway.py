"""``jotgate gateway``: run the API gateway (needs httptools and httpx: the ``server`` extra).

Served by the gateway's own HTTP/1.1 server (:mod:`jotgate.gateway.server`)
on uvloop when installed.

Settings come from ``--config gateway.toml``, from flags, or both: each
flag is the config key of the same name (``--auth-server`` is
``auth_server``), a flag wins over the file, and ``--route`` /
``--public-route`` add routes to the file's ``[[routes]]``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands

__all__ = ["NONCE_SECRET_ENV", "SECRET_ENV", "gateway_settings", "register"]

#: The client secret for the auth server's revocation feed (with --client-id).
SECRET_ENV: Final = "JOTGATE_GATEWAY_CLIENT_SECRET"
#: The DPoP nonce secret (32+ bytes, the same for every gateway process).
NONCE_SECRET_ENV: Final = "JOTGATE_GATEWAY_DPOP_NONCE_SECRET"

_EPILOG = """\
A route is PREFIX=URL, then optional keys of a [[routes]] table:
  --route "/admin=http://127.0.0.1:9003 roles=admin scopes=notes:write strip_prefix"
Durations accept 30s, 500ms, 2m or seconds. The client secret that goes with
--client-id (for the auth server's /auth/revocations) is read from
JOTGATE_GATEWAY_CLIENT_SECRET or the file's client_secret, never from a flag;
the DPoP nonce secret likewise from JOTGATE_GATEWAY_DPOP_NONCE_SECRET or the
file's dpop_nonce_secret.

examples:
  jotgate gateway --listen 127.0.0.1:8080 --auth-server http://127.0.0.1:8000 \\
      --route /api=http://127.0.0.1:9001 --public-route /public=http://127.0.0.1:9002
  jotgate gateway --config gateway.toml --listen 0.0.0.0:8080
  jotgate keys export --use enc --private --out /etc/jotgate/token-decryption.jwks
  jotgate gateway --config gateway.toml \
      --access-token-decryption-key /etc/jotgate/token-decryption.jwks
"""

# (flag, config key, help); every flag is exactly one key of gateway.toml.
_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--listen", "listen", "HOST:PORT to listen on (default 127.0.0.1:8080)"),
    ("--auth-server", "auth_server", "the auth server's URL: JWKS, issuer, /auth/* pass-through"),
    ("--jwks-url", "jwks_url", "JWKS URL (default AUTH_SERVER/.well-known/jwks.json)"),
    ("--issuer", "issuer", "the iss tokens must carry (default: the auth server's URL)"),
    ("--audience", "audience", "the aud tokens must carry (default jotgate)"),
    ("--algorithms", "algorithms", "accepted algorithms, comma-separated (default: asymmetric)"),
    ("--token-type", "token_type", "required typ header (default at+jwt; '' for none)"),
    ("--leeway", "leeway", "clock leeway for exp/nbf (default 0)"),
    ("--expired-status", "expired_status", "status for expired tokens: 401 (default) or 419"),
    (
        "--auth-paths",
        "auth_paths",
        "prefixes passed to the auth server (default /auth,/.well-known)",
    ),
    ("--verify-path", "verify_path", "forward-auth path (default /_jotgate/verify)"),
    ("--strip-headers", "strip_headers", "more identity headers to strip, comma-separated"),
    ("--trust-forwarded", "trust_forwarded", "keep clients' X-Forwarded-* (true behind a proxy)"),
    ("--redis-url", "redis_url", "redis://HOST:PORT/DB for pushed revocations"),
    ("--revocation-channel", "revocation_channel", "Redis channel (default jotgate:revocations)"),
    ("--revocation-key-prefix", "revocation_key_prefix", "Redis key prefix (jotgate:revoked:)"),
    ("--revocation-poll-interval", "revocation_poll_interval", "poll interval (default 0.5s)"),
    ("--client-id", "client_id", "the gateway's client id at the auth server (revocation feed)"),
    ("--upstream-timeout", "upstream_timeout", "upstream read/write timeout (default 30s)"),
    ("--connect-timeout", "connect_timeout", "upstream connect timeout (default 5s)"),
    ("--max-connections", "max_connections", "upstream connection pool size (default 200)"),
    ("--jwks-max-age", "jwks_max_age", "longest JWKS cache lifetime (default 10m)"),
    ("--jwks-min-age", "jwks_min_age", "shortest JWKS cache lifetime (default 60s)"),
    ("--jwks-cooldown", "jwks_cooldown", "least time between refetches for unknown kids (30s)"),
    (
        "--access-token-decryption-key",
        "access_token_decryption_key",
        "JWK/JWKS file of private encryption keys: only encrypted access tokens pass",
    ),
    (
        "--access-token-decrypt-algorithms",
        "access_token_decrypt_algorithms",
        "JWE alg names accepted (default ECDH-ES+A256KW,dir)",
    ),
    ("--access-token-encryptions", "access_token_encryptions", "JWE enc names (default A256GCM)"),
    (
        "--allow-unencrypted-tokens",
        "allow_unencrypted_tokens",
        "with a decryption key, still accept plain signed tokens (default false)",
    ),
    ("--dpop-replay", "dpop_replay", "DPoP proof replay cache: memory (default) or redis"),
    ("--dpop-algorithms", "dpop_algorithms", "DPoP proof algorithms (default: asymmetric)"),
    ("--dpop-max-age", "dpop_max_age", "oldest DPoP proof accepted (default 60s)"),
)


def register(commands: Commands) -> None:
    """Add ``jotgate gateway``."""
    parser = commands.command(
        "gateway",
        help="run the API gateway in front of services",
        handler=_gateway,
        description=__doc__,
        epilog=_EPILOG,
    )
    parser.add_argument("--config", metavar="FILE", help="a gateway.toml file")
    for flag, key, text in _FLAGS:
        parser.add_argument(flag, dest=f"setting_{key}", metavar="VALUE", help=text)
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="SPEC",
        help="PREFIX=URL [options]: a route needing a valid token (repeatable)",
    )
    parser.add_argument(
        "--public-route",
        action="append",
        default=[],
        metavar="SPEC",
        help="PREFIX=URL [options]: a route open to everyone (repeatable)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="log level (default info)",
    )


def gateway_settings(args: argparse.Namespace) -> Any:
    """Validated :class:`jotgate.gateway.Settings` from ``--config`` and the flags."""
    try:
        from jotgate.gateway import SettingsError, load
    except ImportError as exc:
        raise CliError(
            f"the gateway needs the server extra: pip install 'jotgate[server]' ({exc.name})"
        ) from None
    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    # Never a flag: every user of ps would see it.
    secret = os.environ.get(SECRET_ENV)
    if secret:
        overrides["client_secret"] = secret
    nonce_secret = os.environ.get(NONCE_SECRET_ENV)
    if nonce_secret:
        overrides["dpop_nonce_secret"] = nonce_secret
    try:
        return load(args.config, overrides, routes=args.route, public_routes=args.public_route)
    except SettingsError as exc:
        raise CliError(
            "invalid gateway settings:\n  " + "\n  ".join(exc.problems), exit_status=USAGE_ERROR
        ) from None


def _gateway(args: argparse.Namespace, console: Console) -> int:
    settings = gateway_settings(args)
    import asyncio

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with the server extra
        factory = None
    else:
        # The gateway is CPU-bound in one process: uvloop's loop and transports
        # do the same work in less of it.
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_run(settings, args.log_level, console))


async def _run(settings: Any, log_level: str, console: Console) -> int:
    import asyncio
    import logging
    import signal

    from jotgate.gateway import Gateway, GatewayServer

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    host, port = settings.listen
    server = GatewayServer.for_gateway(
        Gateway(settings), host, port, access_log=log_level == "debug"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    try:
        await server.start()
    except OSError as exc:
        logging.getLogger("jotgate.gateway").error("cannot listen on %s:%s: %s", host, port, exc)
        await server.stop()
        return 1
    for bound_host, bound_port in server.addresses:
        console.print(f"jotgate gateway listening on http://{bound_host}:{bound_port}")
    for route in settings.routes:
        console.print(f"  {route.prefix} -> {route.upstream} ({route.auth})")
    console.out.flush()  # a supervisor reading a pipe should see it now
    try:
        await stop.wait()
    finally:
        await server.stop()
    return 0
