"""Statistics over the per-round samples, the console table and ``RESULTS.md``.

Numbers are medians over rounds of per-op batch means; spread is the interquartile range.
Ratios are ratios of medians; the per-round paired ratio (same round, back to back) is
shown next to each target because it cancels slow drifts of a shared machine.

``RESULTS.md`` is shared: other generators (``server_bench.py``) own sections delimited by
``<!-- NAME:start -->`` / ``<!-- NAME:end -->``; :func:`markdown` carries those over from
``bench/RESULTS.md`` unchanged, so regenerating the JOSE part never drops them.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters import ALGS

__all__ = ["TARGETS", "Run", "Target", "console_table", "markdown", "quantiles"]

PEERS = ("pyjwt", "joserfc", "python-jose", "jwcrypto")
COLUMNS = ("jotgate", *PEERS, "floor")
TITLES = {
    "jotgate": "jotgate",
    "pyjwt": "PyJWT",
    "joserfc": "joserfc",
    "python-jose": "python-jose",
    "jwcrypto": "jwcrypto",
    "floor": "floor",
}
FLOOR_NAMES = {
    "HS256/decode": "minimal unsafe HS256 decoder",
    "HS256/encode": "minimal hand-written HS256 encoder",
    "RS256/decode": "raw cryptography RSA PKCS1v15 verify",
    "RS256/encode": "raw cryptography RSA PKCS1v15 sign",
    "ES256/decode": "raw cryptography ECDSA P-256 verify (DER)",
    "ES256/encode": "raw cryptography ECDSA P-256 sign",
    "EdDSA/decode": "raw cryptography Ed25519 verify",
    "EdDSA/encode": "raw cryptography Ed25519 sign",
}


RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
_OTHER_SECTION = re.compile(r"<!-- ([a-z0-9-]+):start -->.*?<!-- \1:end -->\n?", re.S)


def other_sections(path: Path = RESULTS_PATH) -> str:
    """The sections other generators wrote into ``path``, verbatim ('' if none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    return "".join(m.group(0) for m in _OTHER_SECTION.finditer(text))


# A batch whose wall time exceeds its CPU time by more than 5 % was descheduled (a
# neighbour got the core) and is left out of the statistics.
CLEAN_SLACK = 1.05


@dataclass(frozen=True)
class Target:
    """``jotgate(case) <= limit x floor(case)``."""

    case: str
    limit: float


TARGETS = (
    Target("HS256/decode", 1.10),
    Target("HS256/encode", 1.20),
    Target("ES256/decode", 1.15),
    Target("EdDSA/decode", 1.15),
    Target("RS256/decode", 1.50),
)


@dataclass
class Run:
    """Everything one benchmark run measured and noticed."""

    command: str
    date: str
    machine: str
    rounds: int
    batch_ms: float
    versions: dict[str, str] = field(default_factory=dict)
    # library -> case -> ns per op, one sample per round (aligned by round index):
    # wall clock (what is reported) and this thread's CPU time (to spot preempted batches).
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    cpu: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    batch: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def _clean_mask(self, library: str, case: str) -> list[bool]:
        walls = self.samples.get(library, {}).get(case, [])
        cpus = self.cpu.get(library, {}).get(case, [])
        if len(cpus) != len(walls):  # no CPU times recorded: trust every batch
            return [True] * len(walls)
        return [w <= CLEAN_SLACK * c for w, c in zip(walls, cpus, strict=True)]

    def clean_fraction(self, library: str) -> float | None:
        """Share of this library's batches that ran without being descheduled."""
        masks = [
            m for case in self.samples.get(library, {}) for m in self._clean_mask(library, case)
        ]
        return sum(masks) / len(masks) if masks else None

    def values(self, library: str, case: str) -> list[float]:
        """Wall ns per op of the clean batches; all batches if too few were clean."""
        walls = self.samples.get(library, {}).get(case, [])
        clean = [w for w, ok in zip(walls, self._clean_mask(library, case), strict=True) if ok]
        return clean if len(clean) >= _min_clean(len(walls)) else walls

    def median_us(self, library: str, case: str) -> float | None:
        """Median µs per op, or None when the library lacks the case."""
        xs = self.values(library, case)
        return statistics.median(xs) / 1000 if xs else None

    def spread(self, library: str, case: str) -> float | None:
        """IQR as a fraction of the median."""
        xs = self.values(library, case)
        if len(xs) < 4:
            return None
        q1, med, q3 = quantiles(xs)
        return (q3 - q1) / med

    def low_ratio(self, case: str, other: str) -> float | None:
        """p10(jotgate) / p10(other): noise on a shared machine only ever adds time, so the
        fastest decile of each is the least disturbed view (shown next to the medians)."""
        a, b = self.values("jotgate", case), self.values(other, case)
        if len(a) < 10 or len(b) < 10:
            return None
        return statistics.quantiles(a, n=10)[0] / statistics.quantiles(b, n=10)[0]

    def ratio(self, case: str, other: str) -> float | None:
        """median(jotgate) / median(other)."""
        a, b = self.median_us("jotgate", case), self.median_us(other, case)
        return a / b if a and b else None

    def best_peer(self, case: str) -> str | None:
        """The fastest peer library for ``case`` (floors are not peers)."""
        timed = [(self.median_us(p, case), p) for p in PEERS]
        ranked = sorted((t, p) for t, p in timed if t is not None)
        return ranked[0][1] if ranked else None

    def paired(self, case: str, other: str) -> tuple[float, float, float] | None:
        """Quartiles of the per-round ratios jotgate / other (same round, both batches clean)."""
        a = self.samples.get("jotgate", {}).get(case, [])
        b = self.samples.get(other, {}).get(case, [])
        if len(a) != len(b) or len(a) < 4:
            return None
        ok_a, ok_b = self._clean_mask("jotgate", case), self._clean_mask(other, case)
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        clean = [r for r, i, j in zip(ratios, ok_a, ok_b, strict=True) if i and j]
        return quantiles(clean if len(clean) >= _min_clean(len(a)) else ratios)


def _min_clean(total: int) -> int:
    # Below this many clean batches a median of them says more about luck than speed.
    return max(5, total // 10)


def quantiles(xs: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3), the 'inclusive' method so small samples stay inside their range."""
    q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, med, q3


def _cases() -> list[str]:
    return [f"{alg}/{op}" for alg in ALGS for op in ("decode", "encode")]


def _fmt(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def _rows(run: Run) -> list[list[str]]:
    header = ["alg", "op", *(TITLES[c] for c in COLUMNS), "jotgate/best peer", "jotgate/floor"]
    rows = [header]
    for case in _cases():
        alg, op = case.split("/")
        best = run.best_peer(case)
        vs_peer = run.ratio(case, best) if best else None
        rows.append(
            [
                alg,
                op,
                *(_fmt(run.median_us(c, case)) for c in COLUMNS),
                f"{_fmt(vs_peer)}x ({TITLES[best]})" if best and vs_peer else "n/a",
                f"{_fmt(run.ratio(case, 'floor'))}x" if run.ratio(case, "floor") else "n/a",
            ]
        )
    return rows


def _pct(x: float | None) -> str:
    return _fmt(None if x is None else 100 * x, ".1f", "%")


def _spread_rows(run: Run) -> list[list[str]]:
    rows = [["alg", "op", *(TITLES[c] for c in COLUMNS)]]
    for case in _cases():
        rows.append([*case.split("/"), *(_pct(run.spread(c, case)) for c in COLUMNS)])
    rows.append(["clean", "batches", *(_pct(run.clean_fraction(c)) for c in COLUMNS)])
    return rows


def target_lines(run: Run) -> list[str]:
    """One line per target: ratio, verdict, and the per-round spread of the ratio."""
    lines = []
    for t in TARGETS:
        r = run.ratio(t.case, "floor")
        p = run.paired(t.case, "floor")
        alg, op = t.case.split("/")
        what = f"{alg} {op} <= {t.limit:.2f}x {FLOOR_NAMES[t.case]}"
        if r is None:
            lines.append(f"- {what}: **NOT MEASURED** (jotgate or the floor did not run)")
            continue
        verdict = "PASS" if r <= t.limit else "MISS"
        detail = f"{r:.3f}x"
        low = run.low_ratio(t.case, "floor")
        if low is not None:
            detail += f"; least-disturbed (p10 / p10) {low:.3f}x"
        if p is not None:
            detail += f"; per-round ratios q1-median-q3 {p[0]:.3f} / {p[1]:.3f} / {p[2]:.3f}"
            if p[0] <= t.limit < p[2]:
                detail += " (borderline: the limit lies inside the per-round IQR)"
        lines.append(f"- {what}: **{verdict}** — {detail}")
    return lines


def _md_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def console_table(run: Run) -> str:
    """The table, aligned for a terminal, plus the target verdicts."""
    rows = _rows(run)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    text = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    spread = _spread_rows(run)
    sw = [max(len(r[i]) for r in spread) for i in range(len(spread[0]))]
    text += ["", "spread (IQR / median) per cell; last row: share of batches not descheduled:"]
    text += ["  ".join(c.rjust(w) for c, w in zip(r, sw, strict=True)) for r in spread]
    text += ["", "targets:", *target_lines(run)]
    if run.notes:
        text += ["", "notes:", *(f"- {n}" for n in run.notes)]
    return "\n".join(text)


def markdown(run: Run) -> str:
    """The whole ``RESULTS.md``."""
    versions = ", ".join(
        f"cryptography {v} (floor)" if k == "floor" else f"{TITLES.get(k, k)} {v}"
        for k, v in run.versions.items()
    )
    parts = [
        "# JOSE benchmark results",
        "",
        "Generated by `bench/jose_bench.py`; re-run the command below to regenerate this section.",
        "",
        f"- Command: `{run.command}`",
        f"- Date (UTC): {run.date}",
        f"- Machine: {run.machine}",
        "- **Numbers come from a shared 2-core machine** (other engineers run tests on it):"
        " read them as ratios within this run, not as absolute speeds.",
        f"- Versions: {versions}",
        f"- Rounds: {run.rounds}; each round runs one timed batch (about {run.batch_ms:g} ms,"
        " sized per case) of every case in every library: cases in a shuffled order, and for"
        " each case the libraries back to back in a shuffled order. Each library runs in its"
        " own process; only one process times at any moment.",
        "- Cell = median over rounds of µs per op (wall clock, `perf_counter_ns`) of the"
        " batches that were not descheduled (see the spread table); the garbage collector is"
        " off inside a timed batch (as in `timeit`) and run between batches.",
        "- decode = verify signature + require and check `exp`, `iss`, `aud`, returning the"
        " claims dict, keys pre-loaded; every library decodes the same hand-minted token"
        " (header `{alg, typ}`), and was checked to refuse bad signature, expired, missing"
        " `exp`, wrong `iss` and wrong `aud` tokens. encode = the library's own JWT encode of"
        " the same claims.",
        "- floor = hand-written lower bound, no checks (see `bench/adapters.py`, `_setup_floor`):"
        " HS256 decode = split, three base64 decodes, two `json.loads`, `hmac.digest`,"
        " compare; HS256 encode = `json.dumps` x2, base64url, `hmac.digest`, join; RS256 /"
        " ES256 / EdDSA = the bare `cryptography` verify (decode) or sign (encode) of the"
        " signing input.",
        "",
        "## Median µs per op (lower is better)",
        "",
        _md_table(_rows(run)),
        "",
        "## Targets (jotgate / floor, ratio of medians)",
        "",
        *target_lines(run),
        "",
        "Where jotgate's decode time goes (stage timings and cProfile):"
        " `python bench/profile_jotgate.py`.",
        "",
        "## Spread: IQR as % of the median",
        "",
        "The last row is the share of each library's batches that ran without being"
        " descheduled (wall time within 5 % of the thread's CPU time); only those enter the"
        " medians, unless fewer than max(5, rounds/10) of a cell were clean.",
        "",
        _md_table(_spread_rows(run)),
        "",
    ]
    if run.notes:
        parts += ["## Notes", "", *(f"- {n}" for n in run.notes), ""]
    kept = other_sections()
    return "\n".join(parts) + ("\n" + kept if kept else "")
