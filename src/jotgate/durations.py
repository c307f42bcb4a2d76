"""Durations as people write them: ``900``, ``timedelta(minutes=15)``, ``"15m"``.

Used by ``jwt.encode(expires_in=...)``, the server's settings and the CLI, so
``"15m"`` means the same everywhere. A bare number is seconds; a string needs
a unit (``"120"`` is refused rather than guessed: Node's ``ms`` reads it as
milliseconds, most people as seconds).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

__all__ = ["parse_duration"]

_UNITS: Final = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_WHOLE: Final = re.compile(r"^\s*-?\s*(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+$")


def parse_duration(value: int | float | timedelta | str) -> float:
    """Seconds in ``value``: a number of seconds, a ``timedelta``, or ``"15m"``/``"1h30m"``.

    Raises ``ValueError`` with a readable message for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a duration must be finite")
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        text = value.strip().lower()
        if _WHOLE.match(text):
            total = 0.0
            for amount, unit in _PART.findall(text):
                if unit not in _UNITS:
                    break
                total += float(amount) * _UNITS[unit]
            else:
                return -total if text.startswith("-") else total
        raise ValueError(
            f"{value[:32]!r} is not a duration; write e.g. '45s', '15m', '2h', '14d' or '1h30m'"
        )
    raise ValueError(
        f"a duration must be seconds, a timedelta or a string, not {type(value).__name__}"
    )
