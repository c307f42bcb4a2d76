"""NumericDates for people: ISO-8601 UTC and "in 14m 3s" / "5m ago"."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from .. import durations

__all__ = ["duration", "iso_utc", "parse_duration", "parse_moment", "relative"]

_UNITS = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(seconds: float) -> str:
    """A length of time in its two largest units: ``"14m 3s"``, ``"2d 3h"``, ``"45s"``.

    Truncated, never rounded up, so a token never looks longer-lived than it is.
    """
    left = int(abs(seconds))
    parts: list[str] = []
    for name, size in _UNITS:
        count, left = divmod(left, size)
        if count and not parts:
            parts.append(f"{count}{name}")
        elif parts:
            if count:
                parts.append(f"{count}{name}")
            break
    return " ".join(parts) or "0s"


def relative(moment: float, now: float) -> str:
    """``moment`` as seen from ``now``: ``"in 14m 3s"``, ``"5m ago"`` or ``"now"``."""
    delta = moment - now
    if abs(delta) < 1:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def iso_utc(moment: float) -> str | None:
    """``2024-05-01T12:00:00Z`` (fractions kept), or None when no calendar holds it."""
    try:
        stamp = datetime.fromtimestamp(moment, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
    text = stamp.isoformat()
    return text.removesuffix("+00:00") + "Z"


def parse_moment(text: str) -> float:
    """Seconds since the epoch from ``1714564800`` or ISO-8601 (UTC unless an offset is given).

    Raises ValueError with a message fit for the user.
    """
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValueError(f"not a time: {text!r}")
        return number
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use seconds since the epoch or ISO-8601, "
            "such as 2024-05-01T12:00:00Z)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def parse_duration(text: str) -> float:
    """Seconds from a command-line duration: ``"90"`` (seconds), ``"15m"``, ``"1h30m"``...

    Units mean what they mean everywhere in jotgate (:mod:`jotgate.durations`);
    a bare number is accepted here because an option documented as taking
    seconds is read that way by everyone. Raises ValueError for the user.
    """
    try:
        number = float(text)
    except ValueError:
        return durations.parse_duration(text)
    if not math.isfinite(number):
        raise ValueError(f"not a duration: {text!r}")
    return number
