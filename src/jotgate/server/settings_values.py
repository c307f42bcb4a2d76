"""Parsing and checking of single setting values (what ``JOTGATE_*`` strings mean).

:mod:`.settings` holds the settings themselves; this module turns one raw
value into the typed one, or a ``ValueError`` whose message tells the
operator what is expected.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Any, Final

__all__ = ["SIGNING_ALGORITHMS", "IPNetwork", "convert", "parse_duration"]

#: Algorithms the server may sign access tokens with.
SIGNING_ALGORITHMS: Final = ("ES256", "RS256", "PS256", "EdDSA", "HS256")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def parse_duration(value: str | int | float) -> int:
    """Parse ``"15m"``, ``"2s"``, ``"14d"``, ``"3600"`` or a number into whole seconds.

    >>> parse_duration("15m")
    900
    """
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        if value < 0 or value != int(value):
            raise ValueError("must be a whole, non-negative number of seconds")
        return int(value)
    match = _DURATION.match(value)
    if match is None:
        raise ValueError("expected a duration like 15m, 2s, 2h, 14d or a number of seconds")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _positive_duration(value: Any) -> int:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be longer than 0 seconds")
    return seconds


def _int_in(low: int, high: int) -> Any:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("expected a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return convert


def _choice(*options: Any) -> Any:
    def convert(value: Any) -> Any:
        for option in options:
            if str(value).strip().lower() == str(option).lower():
                return option
        raise ValueError("must be one of " + ", ".join(str(o) for o in options))

    return convert


def _database_url(value: Any) -> str:
    url = str(value).strip()
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    raise ValueError("expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")


def _redis_url(value: Any) -> str | None:
    url = str(value).strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected redis://HOST:PORT/DB")
    return url


def _nonempty(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _secret(value: Any) -> str | None:
    text = str(value)
    if not text:
        return None
    if len(text.encode()) < 16:
        raise ValueError("must be at least 16 bytes (use a long random string)")
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected true or false")


def _cache_seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number of seconds") from None
    if not 0 <= number <= 1:
        # The promise: a revocation is seen everywhere within 1 second.
        raise ValueError("must be between 0 and 1 second")
    return number


def _items(value: Any, separators: str = r"[\s,]+") -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in re.split(separators, value) if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError("expected a comma-separated list")


def _networks(value: Any) -> tuple[IPNetwork, ...]:
    networks = []
    for item in _items(value):
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ValueError(f"{str(item)!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def _clients(value: Any) -> tuple[tuple[str, str], ...]:
    clients: dict[str, str] = {}
    for item in _items(value, ","):  # secrets may hold spaces, never commas
        if isinstance(item, tuple | list) and len(item) == 2:
            client_id, secret = str(item[0]), str(item[1])
        else:
            client_id, _, secret = str(item).partition(":")
        if not _CLIENT_ID.match(client_id):
            raise ValueError("expected CLIENT_ID:SECRET,... with ids of letters, digits, ._~-")
        if len(secret.encode()) < 16:
            raise ValueError(f"the secret of client {client_id!r} must be at least 16 bytes")
        if client_id in clients:
            raise ValueError(f"client {client_id!r} is listed twice")
        clients[client_id] = secret
    return tuple(clients.items())


def _content_keys(value: Any) -> tuple[bytes, ...]:
    keys = []
    for item in _items(value, ","):
        if isinstance(item, bytes):
            raw = item
        else:
            text = str(item).strip()
            try:
                raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                raw = b""
        if len(raw) != 32:
            raise ValueError(
                "expected base64url of 32 random bytes, comma-separated "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        keys.append(raw)
    if len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice")
    return tuple(keys)


_CONVERTERS: Final[dict[str, Any]] = {
    "host": _nonempty,
    "port": _int_in(0, 65535),
    "database_url": _database_url,
    "redis_url": _redis_url,
    "issuer": _nonempty,
    "audience": _nonempty,
    "signing_alg": _choice(*SIGNING_ALGORITHMS),
    "access_token_ttl": _positive_duration,
    "refresh_token_ttl": _positive_duration,
    "session_max_age": _positive_duration,
    "refresh_reuse_grace": parse_duration,
    "token_transport": _choice("body", "cookie", "both"),
    "expired_status": _choice(401, 419),
    "registration": _choice("open", "closed"),
    "revocation_feed": _choice("public", "clients"),
    "secret": _secret,
    "max_body_bytes": _int_in(1024, 16 * 1024 * 1024),
    "jwks_max_age": _int_in(0, 86400),
    "argon2_time_cost": _int_in(1, 20),
    "argon2_memory_kib": _int_in(8, 4 * 1024 * 1024),
    "argon2_parallelism": _int_in(1, 16),
    "argon2_max_queue": _int_in(1, 100_000),
    "denylist_cache_seconds": _cache_seconds,
    "migrate": _flag,
    "trusted_proxies": _networks,
    "login_account_threshold": _int_in(1, 1000),
    "login_ip_threshold": _int_in(1, 100_000),
    "login_base_delay": _positive_duration,
    "login_max_delay": _positive_duration,
    "login_window": _positive_duration,
    "introspection_clients": _clients,
    "key_activation_delay": parse_duration,
    "access_token_encryption": _choice("off", "ECDH-ES+A256KW", "dir"),
    "access_token_key": _content_keys,
    "token_fingerprint": _choice("auto", "on", "off"),
    "dpop_nonce": _flag,
    "bind_tokens": _choice("off", "ip", "user-agent"),
}


def convert(name: str, value: Any) -> Any:
    """``value`` (a string from the environment, or typed) as setting ``name`` holds it.

    Raises ``ValueError`` with a message meant for the operator.
    """
    return _CONVERTERS[name](value)
