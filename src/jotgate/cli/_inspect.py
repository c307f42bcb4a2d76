"""What ``jotgate token decode`` shows: jwt.io, in a terminal.

:func:`inspect` turns an (unverified) header and claim set into one plain
dict — the ``--json`` output — and :func:`show` lays the same dict out for a
person, so the two outputs can never disagree.
"""

from __future__ import annotations

import time
from typing import Any

from ..jwa import ALGORITHMS
from ._output import BOLD, CYAN, DIM, GREEN, MAGENTA, RED, YELLOW, Console, render_json
from ._timefmt import duration, iso_utc, relative

__all__ = ["clock", "inspect", "show"]

# Shown in time order, with what each one means.
_TIME_CLAIMS = (("iat", "issued"), ("nbf", "not before"), ("exp", "expires"))


def clock() -> float:
    """Now, in seconds since the epoch (the one place the CLI reads the clock)."""
    return time.time()


def _numeric(value: object) -> bool:
    # RFC 7519 NumericDate: a JSON number; bool is an int in Python but not in JSON.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _time_entry(value: object, now: float) -> dict[str, Any]:
    if not _numeric(value):
        return {"value": value, "error": "not a NumericDate: verification refuses it"}
    assert isinstance(value, int | float)
    utc = iso_utc(value)
    if utc is None:
        return {"value": value, "error": "out of the calendar's range"}
    return {
        "value": value,
        "utc": utc,
        "relative": relative(value, now),
        "seconds_from_now": value - now,
    }


def _status(claims: dict[str, Any], times: dict[str, dict[str, Any]], now: float) -> dict[str, str]:
    broken = [name for name, entry in times.items() if "error" in entry]
    if broken:
        names = ", ".join(repr(name) for name in broken)
        return {"state": "invalid_time", "text": f"{names} cannot be read as a time"}
    exp, nbf, iat = (claims.get(name) for name in ("exp", "nbf", "iat"))
    if exp is not None and now >= exp:
        return {"state": "expired", "text": f"EXPIRED {duration(now - exp)} ago"}
    if nbf is not None and now < nbf:
        return {"state": "not_yet_valid", "text": f"not valid yet: usable {relative(nbf, now)}"}
    if iat is not None and iat > now:
        return {"state": "issued_in_future", "text": f"issued in the future ({relative(iat, now)})"}
    if exp is None:
        return {"state": "no_exp", "text": "no 'exp': this token never expires"}
    text = f"valid for another {duration(exp - now)}"
    if iat is not None:
        text += f" (lifetime {duration(exp - iat)})"
    return {"state": "valid", "text": text}


def inspect(
    token: str, header: dict[str, Any], claims: dict[str, Any], *, now: float | None = None
) -> dict[str, Any]:
    """The facts about a decoded token, as JSON-ready data."""
    # Whole seconds: NumericDates are nearly always integers, and "14m 59.83s"
    # helps nobody.
    moment = int(clock()) if now is None else now
    times = {name: _time_entry(claims[name], moment) for name, _ in _TIME_CLAIMS if name in claims}
    signature = token.rsplit(".", 1)[-1]
    return {
        "verified": False,
        "header": header,
        "claims": claims,
        # Unpadded base64url: every 4 characters are 3 bytes.
        "signature_bytes": len(signature) * 3 // 4,
        "now": moment,
        "times": times,
        "status": _status(claims, times, moment),
    }


_STATE_COLOUR = {
    "valid": GREEN,
    "no_exp": YELLOW,
    "expired": RED,
    "not_yet_valid": YELLOW,
    "issued_in_future": YELLOW,
    "invalid_time": RED,
}
_LABEL_WIDTH = 11


def show(view: dict[str, Any], console: Console) -> None:
    """Print :func:`inspect`'s view for a person."""
    p = console.paint
    console.print(
        p(" NOT VERIFIED ", BOLD, "7", YELLOW)
        + " "
        + p("the signature was not checked: anyone could have written this token.", YELLOW)
    )
    alg = view["header"].get("alg")
    if isinstance(alg, str) and alg in ALGORITHMS:
        hint = f"trust it only after: jotgate token verify TOKEN --key FILE --alg {alg}"
        console.print(p(f"  {hint}", DIM))
    else:
        # 'none', a typo or a JWE algorithm: a "how to verify" hint would mislead.
        shown = render_json(alg)[:40]
        console.print(
            p(f"  alg {shown} is not one jotgate verifies: no key makes this token valid", RED)
        )
    console.print()
    console.print(p("Header", BOLD, RED))
    console.json(view["header"])
    console.print()
    console.print(p("Claims", BOLD, MAGENTA))
    console.json(view["claims"])
    console.print()

    times: dict[str, dict[str, Any]] = view["times"]
    if times:
        now_utc = iso_utc(view["now"]) or view["now"]
        console.print(p("Times", BOLD) + p(f"  (now {now_utc})", DIM))
        for name, meaning in _TIME_CLAIMS:
            entry = times.get(name)
            if entry is None:
                continue
            label = f"  {name}  {meaning:<{_LABEL_WIDTH}}"
            if "error" in entry:
                console.print(label + p(entry["error"], RED))
            else:
                console.print(f"{label}{entry['utc']}  " + p(entry["relative"], BOLD))
        console.print()

    status = view["status"]
    colour = _STATE_COLOUR[status["state"]]
    console.print(p("Status    ", BOLD) + p(status["text"], BOLD, colour))
    size = view["signature_bytes"]
    if size:
        console.print(p("Signature ", BOLD, CYAN) + f"{size} bytes, " + p("not verified", YELLOW))
    else:
        console.print(p("Signature ", BOLD, CYAN) + p("none: the token is unsigned", RED))
