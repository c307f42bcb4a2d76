"""The life of a stored key, computed from its stored times alone.

States: ``pending`` -> ``active`` -> ``retiring`` -> ``retired``. Every
process computes the same states from the same rows, so all of them switch
keys at the same moment without talking to each other. Signing and
encryption keys share these rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from .models import KeyRow

__all__ = ["KeyState", "activates", "key_states"]


def activates(row: KeyRow) -> dt.datetime:
    """When ``row`` starts signing (or encrypting)."""
    # Keys from before staged rotation have no activates_at: they signed at once.
    return row.activates_at or row.created_at


@dataclass(frozen=True)
class KeyState:
    """Where a key is in its life, and when it moves on (None: not scheduled yet)."""

    kid: str
    alg: str
    state: str  # pending | active | retiring | retired
    created_at: dt.datetime
    activates_at: dt.datetime
    retires_at: dt.datetime | None


def key_states(
    rows: Sequence[KeyRow], *, alg: str, retain_for: float, now: dt.datetime
) -> list[KeyState]:
    """The state of every key in ``rows`` at ``now`` (newest first).

    The signer is the newest key of ``alg`` that is enabled and activated; a
    key is replaced when a later one activates (whatever its alg, so an
    algorithm change retires the old keys too) and retired ``retain_for``
    seconds after that, or at once when withdrawn by hand (``retired_at``).
    """
    ordered = sorted(rows, key=activates, reverse=True)
    live = [r for r in ordered if r.active and activates(r) <= now]
    signer = next((r for r in live if r.alg == alg), None)
    states = []
    for row in ordered:
        starts = activates(row)
        later = [activates(r) for r in live if activates(r) > starts and r.alg == alg]
        replaced = min(later) if later else None
        retires = replaced + dt.timedelta(seconds=retain_for) if replaced else None
        if row.retired_at is not None:
            state, retires = "retired", row.retired_at
        elif starts > now:
            state = "pending"
        elif row is signer:
            state = "active"
        elif retires is None or now < retires:
            state = "retiring"
        else:
            state = "retired"
        states.append(KeyState(row.kid, row.alg, state, row.created_at, starts, retires))
    return states
