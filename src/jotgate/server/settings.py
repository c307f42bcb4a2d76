"""Server settings: one frozen dataclass, read from ``JOTGATE_*`` env vars and flags.

Every value is validated at start-up; all problems are collected and reported
together, one clear line per bad value, so an operator fixes them in one go::

    settings = Settings.from_env(os.environ, overrides={"port": 9000})

Durations accept ``15m``, ``2s``, ``2h``, ``14d`` or plain seconds.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "SIGNING_ALGORITHMS",
    "IPNetwork",
    "Settings",
    "SettingsError",
    "parse_duration",
]

#: Algorithms the server may sign access tokens with.
SIGNING_ALGORITHMS: Final = ("ES256", "RS256", "PS256", "EdDSA", "HS256")

# OWASP password storage cheat sheet, argon2id minimum: m=19 MiB, t=2, p=1.
OWASP_ARGON2_MEMORY_KIB: Final = 19 * 1024
OWASP_ARGON2_TIME_COST: Final = 2

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """One or more settings are invalid; ``problems`` holds one line per bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


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


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the server reads from its environment. Immutable once built."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///./jotgate.db"
    redis_url: str | None = None
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "jotgate"
    signing_alg: str = "ES256"
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 14 * 86400
    session_max_age: int = 30 * 86400
    refresh_reuse_grace: int = 10
    token_transport: Literal["body", "cookie", "both"] = "body"
    expired_status: Literal[401, 419] = 401
    registration: Literal["open", "closed"] = "open"
    secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = 64 * 1024
    jwks_max_age: int = 300
    argon2_time_cost: int = OWASP_ARGON2_TIME_COST
    argon2_memory_kib: int = OWASP_ARGON2_MEMORY_KIB
    argon2_parallelism: int = 1
    #: How long a process may trust "this session is not revoked" without asking the store.
    denylist_cache_seconds: float = 1.0
    #: Creates/migrates the schema at start-up (Alembic).
    migrate: bool = True
    #: Peers whose X-Forwarded-For is believed (CIDRs); nobody's by default.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    #: Failed logins on one account (from anywhere) before it is slowed down.
    login_account_threshold: int = 5
    #: Failed logins from one client address (any account) before it is slowed down.
    login_ip_threshold: int = 20
    #: The first delay past a threshold; it doubles with each further failure...
    login_base_delay: int = 1
    #: ...up to this cap, so no one can lock an account for long.
    login_max_delay: int = 300
    #: Failure counters are forgotten after this long without a failure.
    login_window: int = 3600
    #: ``(client_id, secret)`` pairs allowed to call /auth/introspect with HTTP Basic.
    introspection_clients: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: How long a rotated-in key is published before it signs (verifiers' JWKS caches).
    key_activation_delay: int = 600

    @property
    def argon2_below_owasp(self) -> bool:
        """True when the password hashing cost is under the OWASP minimum (tests only)."""
        return (
            self.argon2_memory_kib < OWASP_ARGON2_MEMORY_KIB
            or self.argon2_time_cost < OWASP_ARGON2_TIME_COST
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Build settings from ``JOTGATE_<NAME>`` variables, then ``overrides`` (flags).

        Raises :class:`SettingsError` listing every bad value.
        """
        raw: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for name in names:
            env_name = "JOTGATE_" + name.upper()
            if env_name in env:
                raw[name] = env[env_name]
        for name, value in (overrides or {}).items():
            if name not in names:
                raise SettingsError([f"unknown setting {name!r}"])
            if value is not None:
                raw[name] = value
        if "issuer" not in raw and ("host" in raw or "port" in raw):
            raw["issuer"] = f"http://{raw.get('host', cls.host)}:{raw.get('port', cls.port)}"
        return cls.validated(raw)

    @classmethod
    def validated(cls, raw: Mapping[str, Any]) -> Settings:
        """Convert and check raw (string or typed) values; collect every problem."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            if raw[f.name] is None and f.default is None:
                values[f.name] = None  # an optional setting left unset
                continue
            try:
                values[f.name] = _convert(f.name, raw[f.name])
            except ValueError as exc:
                hidden = f.name in ("secret", "introspection_clients")
                shown = "<hidden>" if hidden else repr(raw[f.name])
                problems.append(f"JOTGATE_{f.name.upper()}={shown}: {exc}")
        if not problems:
            settings = cls(**values)
            problems.extend(settings._cross_checks())
        if problems:
            raise SettingsError(problems)
        return settings

    def _cross_checks(self) -> list[str]:
        problems = []
        if self.refresh_token_ttl > self.session_max_age:
            problems.append("JOTGATE_REFRESH_TOKEN_TTL must not exceed JOTGATE_SESSION_MAX_AGE")
        if self.access_token_ttl > self.session_max_age:
            problems.append("JOTGATE_ACCESS_TOKEN_TTL must not exceed JOTGATE_SESSION_MAX_AGE")
        if self.login_base_delay > self.login_max_delay:
            problems.append("JOTGATE_LOGIN_BASE_DELAY must not exceed JOTGATE_LOGIN_MAX_DELAY")
        if self.login_max_delay > self.login_window:
            # A counter must outlive the delay it imposes, or the delay could never grow.
            problems.append("JOTGATE_LOGIN_MAX_DELAY must not exceed JOTGATE_LOGIN_WINDOW")
        return problems

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated again."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        current.update(changes)
        return Settings.validated(current)


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
    "secret": _secret,
    "max_body_bytes": _int_in(1024, 16 * 1024 * 1024),
    "jwks_max_age": _int_in(0, 86400),
    "argon2_time_cost": _int_in(1, 20),
    "argon2_memory_kib": _int_in(8, 4 * 1024 * 1024),
    "argon2_parallelism": _int_in(1, 16),
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
}


def _convert(name: str, value: Any) -> Any:
    return _CONVERTERS[name](value)
