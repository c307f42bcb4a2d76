"""Registered-claim checks of RFC 7519 §4.1, in one function on the hot path.

NumericDates must be JSON numbers (never strings or booleans; the strict
JSON decoder has already refused NaN and infinities). ``exp`` fails when
``now >= exp + slack`` (RFC 7519 §4.1.4: "on or after"). ``iss`` and ``sub``
compare exactly, never by substring. A token with ``aud`` must name the
caller (§4.1.3), so a caller who expects no audience refuses one that has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from .durations import parse_duration
from .errors import (
    ExpiredTokenError,
    InvalidClaimError,
    MissingClaimError,
    NotYetValidError,
)

__all__ = ["check", "duration_seconds", "numeric_date", "typ_matches"]

_MISSING: Final = object()
_NUMBERS: Final = (int, float)  # compared with `type(x) in`, so bool is excluded


def numeric_date(value: float | datetime) -> float:
    """Seconds since the epoch of a number or an aware ``datetime``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("use an aware datetime (e.g. datetime.now(timezone.utc))")
        return value.timestamp()
    if type(value) not in _NUMBERS:
        raise TypeError("a time must be a number of seconds or an aware datetime")
    return value


def duration_seconds(value: float | timedelta | str) -> float:
    """Seconds in a duration; a bad value is the caller's bug, so a TypeError."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise TypeError(str(exc)) from None


def typ_matches(actual: object, expected: str) -> bool:
    """RFC 7515 §4.1.9: case-insensitive, ``application/`` prefix optional."""
    if not isinstance(actual, str):
        return False
    a, e = actual.lower(), expected.lower()
    if a.startswith("application/"):
        a = a[12:]
    if e.startswith("application/"):
        e = e[12:]
    return a == e


def _date(claims: Mapping[str, Any], name: str) -> Any:
    value = claims.get(name, _MISSING)
    if value is not _MISSING and type(value) not in _NUMBERS:
        raise InvalidClaimError(f"'{name}' must be a number", claim=name, reason="type")
    return value


def _string(claims: Mapping[str, Any], name: str) -> Any:
    value = claims.get(name, _MISSING)
    if value is not _MISSING and type(value) is not str:
        raise InvalidClaimError(f"'{name}' must be a string", claim=name, reason="type")
    return value


def check(
    claims: Mapping[str, Any],
    now: float,
    *,
    issuer: str | Iterable[str] | None = None,
    audience: str | Iterable[str] | None = None,
    subject: str | None = None,
    leeway: float | timedelta = 0,
    required: Iterable[str] = (),
    max_age: float | timedelta | None = None,
) -> None:
    """Raise the matching ClaimError unless ``claims`` pass every check at ``now``."""
    slack = duration_seconds(leeway) if leeway else 0
    exp = _date(claims, "exp")
    if exp is not _MISSING and now >= exp + slack:
        raise ExpiredTokenError("the token has expired", expired_at=exp)
    nbf = _date(claims, "nbf")
    if nbf is not _MISSING and now + slack < nbf:
        raise NotYetValidError("the token is not valid yet", claim="nbf")
    iat = _date(claims, "iat")
    if iat is not _MISSING and now + slack < iat:
        raise NotYetValidError("the token was issued in the future", claim="iat")
    if max_age is not None:
        if iat is _MISSING:
            raise MissingClaimError("'iat' is required to check max_age", claim="iat")
        limit = iat + duration_seconds(max_age)
        if now >= limit + slack:
            raise ExpiredTokenError(
                "the token is older than max_age", expired_at=limit, claim="iat"
            )
    iss = _string(claims, "iss")
    if issuer is not None:
        if iss is _MISSING:
            raise MissingClaimError("'iss' is required", claim="iss")
        if iss != issuer if type(issuer) is str else iss not in tuple(issuer):
            raise InvalidClaimError(
                "the issuer is not the expected one", claim="iss", reason="mismatch"
            )
    sub = _string(claims, "sub")
    if subject is not None:
        if sub is _MISSING:
            raise MissingClaimError("'sub' is required", claim="sub")
        if sub != subject:
            raise InvalidClaimError(
                "the subject is not the expected one", claim="sub", reason="mismatch"
            )
    _string(claims, "jti")
    aud = claims.get("aud", _MISSING)
    if aud is not _MISSING:
        _check_audience(aud, audience)
    elif audience is not None:
        raise MissingClaimError("'aud' is required", claim="aud")
    for name in required:
        if name not in claims:
            raise MissingClaimError(f"'{name}' is required", claim=name)


def _check_audience(aud: object, audience: str | Iterable[str] | None) -> None:
    if type(aud) is str:
        values: tuple[object, ...] = (aud,)
    elif type(aud) is list and all(type(v) is str for v in aud):
        values = tuple(aud)
    else:
        raise InvalidClaimError(
            "'aud' must be a string or a list of strings", claim="aud", reason="type"
        )
    if audience is None:
        raise InvalidClaimError(
            "the token names an audience but none is expected here",
            claim="aud",
            reason="unexpected",
        )
    expected = (audience,) if type(audience) is str else tuple(audience)
    if not any(value in expected for value in values):
        raise InvalidClaimError(
            "the token is not for this audience", claim="aud", reason="mismatch"
        )
