"""The gateway's settings: frozen dataclasses, checked whole at start.

The same keys come from a TOML file or from flags (``listen`` is
``--listen``, ``auth_server`` is ``--auth-server``, ...); :func:`load`
merges the two (flags win, ``--route`` adds routes) and :meth:`Settings.validated`
turns raw values into settings or raises :class:`SettingsError` listing every
problem at once, so a start-up fails with all of them on screen.

Example ``gateway.toml``::

    listen = "127.0.0.1:8080"
    auth_server = "http://127.0.0.1:8000"   # JWKS, issuer and /auth/* pass-through
    audience = "jotgate"

    [[routes]]
    prefix = "/api"
    upstream = "http://127.0.0.1:9001"
    auth = "required"
    roles = ["staff"]

    [[routes]]
    prefix = "/public"
    upstream = "http://127.0.0.1:9002"
    auth = "public"
    strip_prefix = true

Encrypted access tokens and DPoP::

    access_token_decryption_key = "/etc/jotgate/token-decryption.jwks"
    access_token_decrypt_algorithms = ["ECDH-ES+A256KW"]
    dpop_replay = "redis"                   # with redis_url: shared by every gateway process
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from jotgate import dpop
from jotgate.middleware.client_binding import FINGERPRINT_COOKIES

from ._convert import (
    algorithms,
    boolean,
    decryption_key_file,
    encryption_names,
    header_names,
    http_url,
    int_in,
    key_management_names,
    listen_address,
    names,
    path_prefix,
    seconds,
    text,
)

__all__ = ["DEFAULT_ALGORITHMS", "Route", "Settings", "SettingsError"]

#: Asymmetric algorithms only: a JWKS never carries the secret an HMAC needs.
DEFAULT_ALGORITHMS: Final = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512",
                             "PS256", "PS384", "PS512", "EdDSA")  # fmt: skip

AuthMode = Literal["public", "required"]


class SettingsError(ValueError):
    """Settings that cannot work; ``problems`` lists each one as a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Route:
    """Requests whose path starts with ``prefix`` (on a segment boundary) go to ``upstream``.

    ``auth``: ``"required"`` (a valid access token, with every one of
    ``roles`` and ``scopes``) or ``"public"`` (no token checked).
    ``strip_prefix``: send ``/api/x`` as ``/x``. ``keep_authorization``: pass
    the client's ``Authorization`` header on (by default upstreams see
    identity headers, never the token itself).
    """

    prefix: str
    upstream: str
    auth: AuthMode = "required"
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    strip_prefix: bool = False
    keep_authorization: bool = False

    @property
    def public(self) -> bool:
        """True for routes that check no token."""
        return self.auth == "public"


def _auth_mode(value: Any) -> AuthMode:
    if value == "public":
        return "public"
    if value == "required":
        return "required"
    raise ValueError("must be 'public' or 'required'")


_ROUTE_CONVERTERS: Final[dict[str, Any]] = {
    "prefix": path_prefix,
    "upstream": http_url,
    "auth": _auth_mode,
    "roles": names,
    "scopes": names,
    "strip_prefix": boolean,
    "keep_authorization": boolean,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a gateway needs; see the module docstring for the file form.

    ``auth_server`` is the authentication server's base URL: the JWKS is read
    from ``<auth_server>/.well-known/jwks.json`` (or ``jwks_url``), the issuer
    defaults to it, and the paths under ``auth_paths`` are passed through to
    it so clients talk to a single origin. Logouts arrive through Redis
    when ``redis_url`` is set, else by polling ``/auth/revocations``, which
    the server admits for a service client: ``client_id``/``client_secret``
    (one of the server's ``INTROSPECTION_CLIENTS``).

    ``access_token_decryption_key``: a JWK/JWKS file of private encryption
    keys; with it only encrypted access tokens pass (unless
    ``allow_unencrypted_tokens``). DPoP-bound tokens are checked with a
    replay cache in this process (``dpop_replay = "memory"``) or in Redis
    (``"redis"``, needs ``redis_url``), and with server nonces when
    ``dpop_nonce_secret`` (32+ bytes, shared by every gateway) is set.
    Tokens bound to a fingerprint cookie (``fgp``; its names are
    ``fingerprint_cookies``) or to an address or user agent (``bnd``) are
    checked against each request; the cookie is not sent upstream.
    """

    listen: tuple[str, int] = ("127.0.0.1", 8080)
    auth_server: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str = "jotgate"
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    token_type: str | None = "at+jwt"
    leeway: float = 0.0
    expired_status: int = 401
    routes: tuple[Route, ...] = ()
    auth_paths: tuple[str, ...] = ("/auth", "/.well-known")
    verify_path: str = "/_jotgate/verify"
    strip_headers: tuple[str, ...] = ()
    trust_forwarded: bool = False
    redis_url: str | None = None
    revocation_channel: str = "jotgate:revocations"
    revocation_key_prefix: str = "jotgate:revoked:"
    revocation_poll_interval: float = 0.5
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    upstream_timeout: float = 30.0
    connect_timeout: float = 5.0
    max_connections: int = 200
    jwks_max_age: float = 600.0
    jwks_min_age: float = 60.0
    jwks_cooldown: float = 30.0
    access_token_decryption_key: str | None = None
    access_token_decrypt_algorithms: tuple[str, ...] = ("ECDH-ES+A256KW", "dir")
    access_token_encryptions: tuple[str, ...] = ("A256GCM",)
    allow_unencrypted_tokens: bool = False
    dpop_replay: Literal["memory", "redis"] = "memory"
    dpop_nonce_secret: str | None = field(default=None, repr=False)
    dpop_algorithms: tuple[str, ...] = dpop.DEFAULT_ALGORITHMS
    dpop_max_age: float = 60.0
    fingerprint_cookies: tuple[str, ...] = FINGERPRINT_COOKIES

    @property
    def jwks(self) -> str:
        """The JWKS URL in effect."""
        if self.jwks_url is not None:
            return self.jwks_url
        assert self.auth_server is not None
        return self.auth_server + "/.well-known/jwks.json"

    @property
    def expected_issuer(self) -> str | None:
        """The ``iss`` tokens must carry: ``issuer``, else the auth server's URL."""
        return self.issuer if self.issuer is not None else self.auth_server

    @classmethod
    def validated(cls, raw: Mapping[str, Any]) -> Settings:
        """Settings from raw values (TOML types or flag strings); every problem at once."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        known = {f.name for f in dataclasses.fields(cls)}
        for name, value in raw.items():
            if name not in known:
                problems.append(f"{name}: unknown setting")
            elif name == "routes":
                values[name] = _routes(value, problems)
            elif value is None:
                continue  # unset: keep the default
            else:
                try:
                    values[name] = _CONVERTERS[name](value)
                except (TypeError, ValueError) as exc:
                    problems.append(f"{name}: {exc}")  # messages never quote a secret
        if not problems:
            settings = cls(**values)
            problems.extend(settings._cross_checks())
            if not problems:
                return settings
        raise SettingsError(problems)

    def _cross_checks(self) -> list[str]:
        problems = []
        if self.auth_server is None and self.jwks_url is None:
            problems.append("auth_server: needed (or jwks_url) to know the signing keys")
        if not self.routes:
            problems.append("routes: none configured (--route PREFIX=URL or [[routes]])")
        if (self.client_id is None) != (self.client_secret is None):
            problems.append("client_id: needs client_secret too (and the other way round)")
        if self.dpop_replay == "redis" and self.redis_url is None:
            problems.append("dpop_replay: 'redis' needs redis_url")
        if self.jwks_min_age > self.jwks_max_age:
            problems.append("jwks_min_age: must not exceed jwks_max_age")
        own = {"/healthz", self.verify_path}
        if self.auth_server is not None:
            own.update(self.auth_paths)
        seen: set[str] = set()
        for route in self.routes:
            if route.prefix in seen:
                problems.append(f"routes: prefix {route.prefix} is configured twice")
            seen.add(route.prefix)
            if route.prefix in own:
                problems.append(f"routes: prefix {route.prefix} is the gateway's own path")
            if route.public and (route.roles or route.scopes):
                problems.append(f"routes: {route.prefix} is public but asks for roles or scopes")
        return problems


def _routes(value: Any, problems: list[str]) -> tuple[Route, ...]:
    if not isinstance(value, list | tuple):
        problems.append("routes: expected a list of tables ([[routes]])")
        return ()
    routes = []
    for index, entry in enumerate(value):
        if isinstance(entry, Route):
            routes.append(entry)
            continue
        where = f"routes[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected a table")
            continue
        if isinstance(entry.get("prefix"), str):
            where = f"route {entry['prefix']}"
        fields: dict[str, Any] = {}
        for key, item in entry.items():
            convert = _ROUTE_CONVERTERS.get(key)
            if convert is None:
                problems.append(f"{where}: unknown key {key!r}")
                continue
            try:
                fields[key] = convert(item)
            except (TypeError, ValueError) as exc:
                problems.append(f"{where}: {key}: {exc}")
        missing = [key for key in ("prefix", "upstream") if key not in entry]
        if missing:
            problems.append(f"{where}: needs {' and '.join(missing)}")
        elif len(fields) == len(entry):
            routes.append(Route(**fields))
    return tuple(routes)


_CONVERTERS: Final[dict[str, Any]] = {
    "listen": listen_address,
    "auth_server": http_url,
    "jwks_url": http_url,
    "issuer": text,
    "audience": text,
    "algorithms": algorithms,
    "token_type": lambda value: text(value) or None,
    "leeway": seconds(upper=300),
    "expired_status": lambda value: _expired_status(value),
    "auth_paths": lambda value: tuple(path_prefix(item) for item in names(value)),
    "verify_path": path_prefix,
    "strip_headers": header_names,
    "trust_forwarded": boolean,
    "redis_url": lambda value: _redis_url(value),
    "revocation_channel": text,
    "revocation_key_prefix": text,
    # The promise: a logout is seen at the gateway within 1 second.
    "revocation_poll_interval": seconds(lower=0.05, upper=1.0),
    "client_id": lambda value: text(value) or None,
    "client_secret": lambda value: _secret(value),
    "upstream_timeout": seconds(lower=0.01),
    "connect_timeout": seconds(lower=0.01),
    "max_connections": int_in(1, 10_000),
    "jwks_max_age": seconds(lower=1),
    "jwks_min_age": seconds(lower=0.01),
    "jwks_cooldown": seconds(),
    "access_token_decryption_key": decryption_key_file,
    "access_token_decrypt_algorithms": key_management_names,
    "access_token_encryptions": encryption_names,
    "allow_unencrypted_tokens": boolean,
    "dpop_replay": lambda value: _replay(value),
    "dpop_nonce_secret": lambda value: _secret(value, minimum=32),
    "dpop_algorithms": lambda value: _dpop_algorithms(value),
    "dpop_max_age": seconds(lower=1, upper=300),
    "fingerprint_cookies": lambda value: _cookie_names(value),
}


def _cookie_names(value: Any) -> tuple[str, ...]:
    result = names(value)
    if not result:
        raise ValueError("needs at least one cookie name")
    for name in result:
        if not name.isascii() or any(ch in '()<>@,;:\\"/[]?={}' for ch in name):
            raise ValueError(f"{name!r} is not a cookie name")
    return result


def _replay(value: Any) -> Literal["memory", "redis"]:
    word = text(value).lower()
    if word == "memory":
        return "memory"
    if word == "redis":
        return "redis"
    raise ValueError("must be 'memory' or 'redis'")


def _dpop_algorithms(value: Any) -> tuple[str, ...]:
    result = algorithms(value)  # asymmetric only, as RFC 9449 proofs must be
    return dpop.DEFAULT_ALGORITHMS if result == dpop.DEFAULT_ALGORITHMS else result


def _expired_status(value: Any) -> int:
    status = int_in(400, 499)(value)
    if status not in (401, 419):
        raise ValueError("must be 401 or 419")
    return status


def _secret(value: Any, minimum: int = 16) -> str | None:
    secret = value if isinstance(value, str) else text(value)
    if not secret:
        return None
    if len(secret.encode()) < minimum:
        raise ValueError(f"must be at least {minimum} bytes")
    return secret


def _redis_url(value: Any) -> str | None:
    url = text(value)
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected redis://HOST:PORT/DB")
    return url
