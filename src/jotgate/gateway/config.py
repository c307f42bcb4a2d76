"""Reading settings: a TOML file, flags, or both (flags win; ``--route`` adds routes).

A route given as a flag is ``PREFIX=URL`` followed by the same keys a
``[[routes]]`` table has, separated by spaces::

    --route /api=http://127.0.0.1:9001
    --route "/admin=http://127.0.0.1:9003 roles=admin,ops strip_prefix"
    --public-route /public=http://127.0.0.1:9002

Example::

    settings = load("gateway.toml", {"listen": "0.0.0.0:8080"},
                    routes=["/api=http://127.0.0.1:9001"])
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .settings import Settings, SettingsError

__all__ = ["load", "parse_route"]

_SWITCHES = frozenset({"strip_prefix", "keep_authorization"})


def parse_route(spec: str, *, auth: str = "required") -> dict[str, Any]:
    """A ``[[routes]]`` table from a flag value ``PREFIX=URL [key=value|flag ...]``.

    Example::

        parse_route("/admin=http://h:9003 roles=admin strip_prefix")
        # {"prefix": "/admin", "upstream": "http://h:9003", "auth": "required",
        #  "roles": "admin", "strip_prefix": "true"}
    """
    first, *options = spec.split()
    prefix, sep, upstream = first.partition("=")
    if not sep or not prefix or not upstream:
        raise SettingsError(
            [f"route {spec!r}: expected PREFIX=URL, e.g. /api=http://127.0.0.1:9001"]
        )
    table: dict[str, Any] = {"prefix": prefix, "upstream": upstream, "auth": auth}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.replace("-", "_")
        if not sep and key not in _SWITCHES:
            raise SettingsError([f"route {prefix}: {key} needs a value ({key}=...)"])
        # A bare switch is on: "strip_prefix" means strip_prefix=true.
        table[key] = value if sep else "true"
    return table


def load(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    routes: Iterable[str] = (),
    public_routes: Iterable[str] = (),
) -> Settings:
    """Validated settings from ``path`` (TOML), then ``overrides``, then route flags.

    Raises :class:`SettingsError` listing every problem (an unreadable file
    or TOML syntax error included).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                raw = tomllib.load(handle)
        except OSError as exc:
            raise SettingsError([f"config file {str(path)!r}: {exc.strerror or exc}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"config file {str(path)!r}: {exc}"]) from None
    for name, value in (overrides or {}).items():
        if value is not None:
            raw[name] = value
    problems: list[str] = []
    extra = []
    for spec, auth in [(spec, "required") for spec in routes] + [
        (spec, "public") for spec in public_routes
    ]:
        try:
            extra.append(parse_route(spec, auth=auth))
        except SettingsError as exc:
            problems.extend(exc.problems)  # reported with everything else below
    if extra:
        existing = raw.get("routes", [])
        raw["routes"] = [*existing, *extra] if isinstance(existing, list) else existing
    try:
        settings = Settings.validated(raw)
    except SettingsError as exc:
        raise SettingsError(problems + exc.problems) from None
    if problems:
        raise SettingsError(problems)
    return settings
