"""Server settings: one frozen dataclass, read from ``JOTGATE_*`` env vars and flags.

Every value is validated at start-up; all problems are collected and reported
together, one clear line per bad value, so an operator fixes them in one go::

    settings = Settings.from_env(os.environ, overrides={"port": 9000})

Durations accept ``15m``, ``2s``, ``2h``, ``14d`` or plain seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .settings_values import SIGNING_ALGORITHMS, IPNetwork, convert, parse_duration

__all__ = [
    "SIGNING_ALGORITHMS",
    "IPNetwork",
    "Settings",
    "SettingsError",
    "parse_duration",
]


# OWASP password storage cheat sheet, argon2id minimum: m=19 MiB, t=2, p=1.
OWASP_ARGON2_MEMORY_KIB: Final = 19 * 1024
OWASP_ARGON2_TIME_COST: Final = 2


class SettingsError(ValueError):
    """One or more settings are invalid; ``problems`` holds one line per bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


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
    #: Who may read GET /auth/revocations: anyone (it lists only revoked,
    #: opaque session ids and their expiry) or service clients only.
    revocation_feed: Literal["public", "clients"] = "public"
    secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = 64 * 1024
    jwks_max_age: int = 300
    argon2_time_cost: int = OWASP_ARGON2_TIME_COST
    argon2_memory_kib: int = OWASP_ARGON2_MEMORY_KIB
    argon2_parallelism: int = 1
    #: Password hashes waiting for a hash thread beyond which logins answer 503 ``server_busy``.
    argon2_max_queue: int = 64
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
    #: Access tokens signed, then encrypted to this JWE key management (content A256GCM).
    access_token_encryption: Literal["off", "ECDH-ES+A256KW", "dir"] = "off"
    #: ``dir`` keys given by the operator (first encrypts, all decrypt); else keys in the DB.
    access_token_key: tuple[bytes, ...] = field(default=(), repr=False)
    #: The OWASP sidejacking fingerprint: a hardened cookie whose hash the token carries.
    token_fingerprint: Literal["auto", "on", "off"] = "auto"
    #: Require a server-issued nonce in DPoP proofs (RFC 9449 §8).
    dpop_nonce: bool = False
    #: Bind access tokens to the client address or user agent they were issued to.
    bind_tokens: Literal["off", "ip", "user-agent"] = "off"

    @property
    def fingerprint_on(self) -> bool:
        """Whether logins bind access tokens to a fingerprint cookie."""
        if self.token_fingerprint == "auto":
            return self.token_transport == "cookie"
        return self.token_fingerprint == "on"

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
                values[f.name] = convert(f.name, raw[f.name])
            except ValueError as exc:
                hidden = f.name in ("secret", "introspection_clients", "access_token_key")
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
        if self.access_token_key and self.access_token_encryption != "dir":
            problems.append("JOTGATE_ACCESS_TOKEN_KEY needs JOTGATE_ACCESS_TOKEN_ENCRYPTION=dir")
        return problems

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated again."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        current.update(changes)
        return Settings.validated(current)
