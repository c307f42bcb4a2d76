"""``jotgate serve``: run the authentication server (needs the ``server`` extra).

With no configuration it listens on 127.0.0.1:8000 with an SQLite database
``jotgate.db`` in the working directory, migrates the schema and creates an
ES256 signing key on first start. Settings come from ``JOTGATE_*`` variables;
the flags below override them. ``JOTGATE_SECRET`` and
``JOTGATE_INTROSPECTION_CLIENTS`` are only read from the environment: a flag
would show them to every user of ``ps``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

from ._output import Console
from ._registry import USAGE_ERROR, CliError, Commands

__all__ = ["ENV_ONLY", "add_settings_flags", "register", "server_settings"]

_EPILOG = """\
Every flag has a JOTGATE_<NAME> variable (JOTGATE_DATABASE_URL, ...); the flag
wins. Durations accept 15m, 2s, 14d or seconds. JOTGATE_SECRET (env only)
encrypts private keys at rest; JOTGATE_INTROSPECTION_CLIENTS (env only) holds
the service clients' secrets.

examples:
  jotgate serve
  jotgate serve --port 9000 --database-url postgresql+asyncpg://postgres@127.0.0.1/auth
  JOTGATE_REDIS_URL=redis://127.0.0.1:6379/0 jotgate serve --signing-alg EdDSA
"""

# (flag, setting name, help). Every setting has a flag except the ones holding
# secrets (SECRET, INTROSPECTION_CLIENTS): flags are visible to every user of ps.
_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--host", "host", "address to listen on (default 127.0.0.1)"),
    ("--port", "port", "port to listen on (default 8000)"),
    ("--database-url", "database_url", "sqlite+aiosqlite:///PATH or postgresql+asyncpg://..."),
    ("--redis-url", "redis_url", "redis://HOST:PORT/DB for the shared denylist (optional)"),
    ("--issuer", "issuer", "the iss of issued tokens (default http://HOST:PORT)"),
    ("--audience", "audience", "the aud of issued tokens (default jotgate)"),
    ("--signing-alg", "signing_alg", "ES256 (default), RS256, PS256, EdDSA or HS256"),
    ("--access-token-ttl", "access_token_ttl", "access token lifetime (default 15m)"),
    ("--refresh-token-ttl", "refresh_token_ttl", "refresh token idle lifetime (default 14d)"),
    ("--session-max-age", "session_max_age", "absolute session lifetime (default 30d)"),
    ("--refresh-reuse-grace", "refresh_reuse_grace", "reuse grace window (default 10s)"),
    ("--token-transport", "token_transport", "body (default), cookie or both"),
    ("--expired-status", "expired_status", "status for expired access tokens: 401 or 419"),
    ("--registration", "registration", "open (default) or closed"),
    ("--revocation-feed", "revocation_feed", "who reads /auth/revocations: public or clients"),
    ("--max-body-bytes", "max_body_bytes", "request body cap in bytes (default 65536)"),
    ("--jwks-max-age", "jwks_max_age", "JWKS/metadata Cache-Control max-age, s (default 300)"),
    ("--argon2-time-cost", "argon2_time_cost", "argon2id iterations (default 2)"),
    ("--argon2-memory-kib", "argon2_memory_kib", "argon2id memory in KiB (default 19456)"),
    ("--argon2-parallelism", "argon2_parallelism", "argon2id lanes (default 1)"),
    (
        "--argon2-max-queue",
        "argon2_max_queue",
        "password hashes that may wait for a hash thread; beyond, 503 server_busy (default 64)",
    ),
    (
        "--denylist-cache-seconds",
        "denylist_cache_seconds",
        "how long 'not revoked' is cached per process, 0-1 s (default 1)",
    ),
    ("--migrate", "migrate", "migrate the schema at start-up: true (default) or false"),
    ("--trusted-proxies", "trusted_proxies", "CIDRs whose X-Forwarded-For is believed"),
    (
        "--login-account-threshold",
        "login_account_threshold",
        "failed logins per account before slowing down (default 5)",
    ),
    (
        "--login-ip-threshold",
        "login_ip_threshold",
        "failed logins per address before slowing down (default 20)",
    ),
    ("--login-base-delay", "login_base_delay", "first block, doubling per failure (default 1s)"),
    ("--login-max-delay", "login_max_delay", "cap of any login block (default 5m)"),
    ("--login-window", "login_window", "failure counters forgotten after (default 1h)"),
    (
        "--key-activation-delay",
        "key_activation_delay",
        "default delay of keys rotate --activate-after (default 10m)",
    ),
    (
        "--access-token-encryption",
        "access_token_encryption",
        "encrypt access tokens: off (default), ECDH-ES+A256KW or dir",
    ),
    (
        "--token-fingerprint",
        "token_fingerprint",
        "sidejacking fingerprint cookie: auto (default: on in cookie transport), on, off",
    ),
    ("--dpop-nonce", "dpop_nonce", "require server nonces in DPoP proofs: true or false"),
    ("--bind-tokens", "bind_tokens", "bind access tokens to: off (default), ip, user-agent"),
)

#: Settings deliberately without a flag.
ENV_ONLY: Final = frozenset({"secret", "introspection_clients", "access_token_key"})


def register(commands: Commands) -> None:
    """Add ``jotgate serve``."""
    parser = commands.command(
        "serve",
        help="run the authentication server",
        handler=_serve,
        description=__doc__,
        epilog=_EPILOG,
    )
    add_settings_flags(parser)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level (default info)",
    )


def add_settings_flags(parser: argparse.ArgumentParser, *, only: tuple[str, ...] = ()) -> None:
    """Add the settings flags (all, or those named in ``only``) to ``parser``."""
    for flag, name, text in _FLAGS:
        if not only or name in only:
            parser.add_argument(flag, dest=f"setting_{name}", metavar="VALUE", help=text)


def server_settings(args: argparse.Namespace) -> Any:
    """Validated :class:`jotgate.server.Settings` from the environment and ``args``."""
    try:
        from jotgate.server.settings import Settings, SettingsError
    except ImportError as exc:
        raise CliError(
            f"the server needs the server extra: pip install 'jotgate[server]' ({exc.name})"
        ) from None
    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    try:
        return Settings.from_env(os.environ, overrides=overrides)
    except SettingsError as exc:
        raise CliError(
            "invalid settings:\n  " + "\n  ".join(exc.problems), exit_status=USAGE_ERROR
        ) from None


def _serve(args: argparse.Namespace, console: Console) -> int:
    settings = server_settings(args)
    import asyncio

    return asyncio.run(_run(settings, args.log_level, console))


async def _run(settings: Any, log_level: str, console: Console) -> int:
    import asyncio
    import logging

    import uvicorn

    from jotgate.server import create_app
    from jotgate.server.runtime import open_runtime

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    if log_level != "debug":
        # Alembic says "Context impl SQLiteImpl." on every start; the server
        # logs the one line that matters (a schema upgrade) itself.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # Start-up problems (database unreachable, sealed keys without SECRET...)
    # as one clear line, before the web server is involved. The app then uses
    # this runtime: migrations and start-up warnings happen once.
    try:
        runtime = await open_runtime(settings)
    except Exception as exc:
        raise CliError(f"cannot start: {type(exc).__name__}: {exc}") from None
    config = uvicorn.Config(
        create_app(settings, runtime=runtime),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        for listener in server.servers:
            for sock in listener.sockets:
                host, port = sock.getsockname()[:2]
                base = f"http://{host}:{port}"
                console.print(f"jotgate auth server listening on {base}")
                console.print(f"API docs: {base}/docs  JWKS: {base}/.well-known/jwks.json")
        console.out.flush()  # a supervisor reading a pipe should see it now
    await task
    return 0 if server.started else 1
