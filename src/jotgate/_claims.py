"""Registered-claim checks of RFC 7519 §4.1, in one function on the hot path.

NumericDates must be JSON numbers (never strings or booleans; the strict
JSON decoder has already refused NaN and infinities). ``exp`` fails when
``now >= exp + slack`` (RFC 7519 §4.1.4: "on or after"). ``iss`` and ``sub``
compare exactly, never by substring. A token with ``aud`` must name the
caller (§4.1.3), so a caller who expects no audience refuses one that has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from .durations import parse_duration
from .errors import (
    ExpiredTokenError,
    InvalidClaimError,
    MissingClaimError,
    NotYetValidError,
)

__all__ = ["check", "checker", "duration_seconds", "numeric_date", "typ_matches"]

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


def _type_error(name: str, kind: str) -> InvalidClaimError:
    return InvalidClaimError(f"'{name}' must be {kind}", claim=name, reason="type")


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
    # Written flat, without helper calls: this runs on every verification.
    # Times are compared as `now - slack >= exp`, never `exp + slack`, so an
    # absurd integer NumericDate is compared exactly instead of overflowing.
    slack = duration_seconds(leeway) if leeway else 0
    get = claims.get
    exp = get("exp", _MISSING)
    if exp is not _MISSING:
        if type(exp) not in _NUMBERS:
            raise _type_error("exp", "a number")
        if now - slack >= exp:
            raise ExpiredTokenError("the token has expired", expired_at=exp)
    nbf = get("nbf", _MISSING)
    if nbf is not _MISSING:
        if type(nbf) not in _NUMBERS:
            raise _type_error("nbf", "a number")
        if now + slack < nbf:
            raise NotYetValidError("the token is not valid yet", claim="nbf")
    iat = get("iat", _MISSING)
    if iat is not _MISSING:
        if type(iat) not in _NUMBERS:
            raise _type_error("iat", "a number")
        if now + slack < iat:
            raise NotYetValidError("the token was issued in the future", claim="iat")
    if max_age is not None:
        _check_age(iat, now - slack, duration_seconds(max_age))
    iss = get("iss", _MISSING)
    if iss is not _MISSING and type(iss) is not str:
        raise _type_error("iss", "a string")
    if issuer is not None:
        if iss is _MISSING:
            raise MissingClaimError("'iss' is required", claim="iss")
        if iss != issuer if type(issuer) is str else iss not in tuple(issuer):
            raise InvalidClaimError(
                "the issuer is not the expected one", claim="iss", reason="mismatch"
            )
    sub = get("sub", _MISSING)
    if sub is not _MISSING and type(sub) is not str:
        raise _type_error("sub", "a string")
    if subject is not None:
        if sub is _MISSING:
            raise MissingClaimError("'sub' is required", claim="sub")
        if sub != subject:
            raise InvalidClaimError(
                "the subject is not the expected one", claim="sub", reason="mismatch"
            )
    jti = get("jti", _MISSING)
    if jti is not _MISSING and type(jti) is not str:
        raise _type_error("jti", "a string")
    aud = get("aud", _MISSING)
    if aud is not _MISSING:
        _check_audience(aud, audience)
    elif audience is not None:
        raise MissingClaimError("'aud' is required", claim="aud")
    for name in required:
        if name not in claims:
            raise MissingClaimError(f"'{name}' is required", claim=name)


def checker(
    *,
    issuer: str | Iterable[str] | None = None,
    audience: str | Iterable[str] | None = None,
    subject: str | None = None,
    leeway: float | timedelta = 0,
    required: Iterable[str] = (),
    max_age: float | timedelta | None = None,
) -> Callable[[Mapping[str, Any], float], None]:
    """``check`` with these options fixed: a ``check_claims(claims, now)``.

    For a caller that checks many claim sets against one policy (the
    middleware's ``Verifier``): the options are converted once here instead
    of on every call. The checks, their order and the errors raised are
    exactly those of :func:`check` with the same options. Iterables are
    read once, now (a generator stays valid for every call).
    """
    names = tuple(required)
    issuers = None if issuer is None else (issuer,) if type(issuer) is str else tuple(issuer)
    audiences = (
        None if audience is None else (audience,) if type(audience) is str else tuple(audience)
    )
    if subject is not None or max_age is not None:
        # Not a policy the middleware uses: the general function will do.
        return partial(
            check,
            issuer=issuers,
            audience=audiences,
            subject=subject,
            leeway=leeway,
            required=names,
            max_age=max_age,
        )
    slack = duration_seconds(leeway) if leeway else 0
    missing = _MISSING
    numbers = _NUMBERS

    def check_claims(claims: Mapping[str, Any], now: float) -> None:
        # check() with subject=None and max_age=None, its option handling
        # done above; keep the two in step (tests/middleware compares them).
        get = claims.get
        exp = get("exp", missing)
        if exp is not missing:
            if type(exp) not in numbers:
                raise _type_error("exp", "a number")
            if now - slack >= exp:
                raise ExpiredTokenError("the token has expired", expired_at=exp)
        nbf = get("nbf", missing)
        if nbf is not missing:
            if type(nbf) not in numbers:
                raise _type_error("nbf", "a number")
            if now + slack < nbf:
                raise NotYetValidError("the token is not valid yet", claim="nbf")
        iat = get("iat", missing)
        if iat is not missing:
            if type(iat) not in numbers:
                raise _type_error("iat", "a number")
            if now + slack < iat:
                raise NotYetValidError("the token was issued in the future", claim="iat")
        iss = get("iss", missing)
        if iss is not missing and type(iss) is not str:
            raise _type_error("iss", "a string")
        if issuers is not None:
            if iss is missing:
                raise MissingClaimError("'iss' is required", claim="iss")
            if iss not in issuers:
                raise InvalidClaimError(
                    "the issuer is not the expected one", claim="iss", reason="mismatch"
                )
        sub = get("sub", missing)
        if sub is not missing and type(sub) is not str:
            raise _type_error("sub", "a string")
        jti = get("jti", missing)
        if jti is not missing and type(jti) is not str:
            raise _type_error("jti", "a string")
        aud = get("aud", missing)
        if aud is not missing:
            if type(aud) is str and audiences is not None:
                if aud not in audiences:
                    raise InvalidClaimError(
                        "the token is not for this audience", claim="aud", reason="mismatch"
                    )
            else:
                _check_audience(aud, audiences)
        elif audiences is not None:
            raise MissingClaimError("'aud' is required", claim="aud")
        for name in names:
            if name not in claims:
                raise MissingClaimError(f"'{name}' is required", claim=name)

    return check_claims


def _check_age(iat: Any, earliest: float, max_age: float) -> None:
    if iat is _MISSING:
        raise MissingClaimError("'iat' is required to check max_age", claim="iat")
    if earliest - max_age >= iat:
        limit = iat + (int(max_age) if type(iat) is int else max_age)
        raise ExpiredTokenError("the token is older than max_age", expired_at=limit, claim="iat")


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
