"""The section ``jwe_dpop_bench.py`` writes into ``RESULTS.md``: targets, tables, spread.

The section sits between ``<!-- jwe-dpop-bench:start -->`` and
``<!-- jwe-dpop-bench:end -->``; writing it replaces only that span (or appends it), and
``report.py`` carries such sections over when ``jose_bench.py`` regenerates its own.
Targets: each JWE case, jotgate <= 0.5x the faster of joserfc and jwcrypto; the DPoP
proof check <= 1.3x one bare ES256 verify. A verdict is judged on the ratio of medians;
the per-round paired ratios and the bare-primitive floor are printed next to it, so a
MISS says whether it is jotgate's overhead or the cryptography itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from jwe_dpop_adapters import ENC, JWE_ALGS
from report import Run, quantiles

__all__ = ["END", "START", "section", "write_section"]

LIBRARIES = ("jotgate", "joserfc", "jwcrypto", "floor")
PEERS = ("joserfc", "jwcrypto")
START, END = "<!-- jwe-dpop-bench:start -->", "<!-- jwe-dpop-bench:end -->"
JWE_LIMIT = 0.5  # jotgate <= 0.5x the faster peer
DPOP_LIMIT = 1.3  # verify_proof <= 1.3x one raw ES256 verify


def _us(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}" if x >= 100 else f"{x:.2f}"


def _best_peer(run: Run, case: str) -> tuple[str, float] | None:
    timed = [(t, p) for p in PEERS if (t := run.median_us(p, case)) is not None]
    return (min(timed)[1], min(timed)[0]) if timed else None


def _paired(run: Run, case: str, other: str) -> str:
    p = run.paired(case, other)
    return (
        "" if p is None else f"; per-round ratios q1/median/q3 {p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f}"
    )


def _jwe_lines(run: Run) -> tuple[list[str], list[str]]:
    table = [
        "| alg + A256GCM | op | jotgate | joserfc | jwcrypto | floor | jotgate / best peer"
        " | floor / best peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    targets = []
    for alg in JWE_ALGS:
        for op in ("encrypt", "decrypt"):
            case = f"{alg}/{op}"
            cells = [_us(run.median_us(lib, case)) for lib in ("jotgate", *PEERS, "floor")]
            best, jot, floor = _best_peer(run, case), run.median_us("jotgate", case), None
            floor = run.median_us("floor", case)
            if best is None or jot is None:
                table.append(f"| {alg} | {op} | {' | '.join(cells)} | n/a | n/a |")
                targets.append(f"- {alg} {op}: **NOT MEASURED**")
                continue
            peer, peer_us = best
            ratio = jot / peer_us
            reach = f"{floor / peer_us:.2f}x" if floor else "n/a"
            table.append(
                f"| {alg} | {op} | {' | '.join(cells)} | {ratio:.2f}x ({peer}) | {reach} |"
            )
            verdict = "PASS" if ratio <= JWE_LIMIT else "MISS"
            line = (
                f"- {alg}+{ENC} {op} <= {JWE_LIMIT}x the faster peer ({peer}): **{verdict}** —"
                f" {ratio:.2f}x{_paired(run, case, peer)}"
            )
            if floor and floor > JWE_LIMIT * peer_us:
                line += (
                    f". Out of reach for any library: the bare `cryptography` primitives alone"
                    f" take {floor / peer_us:.2f}x the peer's time"
                )
            elif floor:
                line += f"; overhead above the floor: jotgate {jot - floor:.1f} µs"
                line += f", {peer} {peer_us - floor:.1f} µs"
            targets.append(line)
    return table, targets


def _dpop_lines(run: Run) -> tuple[list[str], list[str]]:
    raw = run.median_us("floor", "dpop/check")
    rows = [
        ("bare `cryptography` ES256 verify (DER signature)", "floor", "dpop/check"),
        ("jotgate `jws.verify_compact` of the proof, key known", "jotgate", "dpop/jws-verify"),
        ("`dpop.verify_proof`, warm key (the client's usual case)", "jotgate", "dpop/check"),
        ("`dpop.verify_proof`, cold key (first proof of a new key)", "jotgate", "dpop/cold-key"),
    ]
    table = ["| what | µs per op | / one raw ES256 verify |", "|---|---|---|"]
    for what, lib, case in rows:
        t = run.median_us(lib, case)
        ratio = f"{t / raw:.2f}x" if t and raw else "n/a"
        table.append(f"| {what} | {_us(t)} | {ratio} |")
    t = run.median_us("jotgate", "dpop/check")
    if t is None or raw is None:
        return table, ["- DPoP proof check: **NOT MEASURED**"]
    verdict = "PASS" if t / raw <= DPOP_LIMIT else "MISS"
    low = run.low_ratio("dpop/check", "floor")
    line = (
        f"- DPoP proof check (`verify_proof`, ES256, ath + jkt + MemoryReplayCache) <="
        f" {DPOP_LIMIT}x one raw ES256 verify: **{verdict}** — {t / raw:.2f}x"
        f" ({t - raw:.1f} µs added){_paired(run, 'dpop/check', 'floor')}"
    )
    if low is not None:
        line += f"; least-disturbed (p10 / p10) {low:.2f}x"
    return table, [line]


def _spread(run: Run) -> list[str]:
    libs = [lib for lib in LIBRARIES if lib in run.samples]
    out = ["| case | " + " | ".join(libs) + " |", "|---|" + "---|" * len(libs)]
    for case in sorted({c for lib in libs for c in run.samples[lib]}):
        cells = []
        for lib in libs:
            xs = run.values(lib, case)
            if len(xs) < 4:
                cells.append("")
                continue
            q1, med, q3 = quantiles(xs)
            cells.append(f"{100 * (q3 - q1) / med:.1f}%")
        out.append(f"| {case} | " + " | ".join(cells) + " |")
    clean = [run.clean_fraction(lib) for lib in libs]
    out.append(
        "| clean batches | " + " | ".join(f"{100 * c:.0f}%" if c else "" for c in clean) + " |"
    )
    return out


def section(run: Run, payload_bytes: int) -> str:
    """This benchmark's section of ``RESULTS.md``, between its markers."""
    jwe_table, jwe_targets = _jwe_lines(run)
    dpop_table, dpop_targets = _dpop_lines(run)
    versions = ", ".join(f"{lib} {v}" for lib, v in run.versions.items())
    parts = [
        START,
        "# JWE and DPoP benchmark results",
        "",
        "Generated by `bench/jwe_dpop_bench.py`; re-run the command to regenerate this section.",
        "",
        f"- Command: `{run.command}`",
        f"- Date (UTC): {run.date}",
        f"- Machine: {run.machine}",
        "- **A shared 2-core machine**: read ratios within this run, not absolute speeds.",
        f"- Versions: {versions} (floor = bare `cryptography`)",
        f"- Rounds: {run.rounds}, each one batch (about {run.batch_ms:g} ms) of every case in"
        " every library, cases shuffled, libraries back to back in a shuffled order; one"
        " process per library; batches whose wall time exceeds their CPU time by 5 % are"
        " dropped. Cells are medians of µs per op.",
        f"- JWE: payload = a signed ES256 access token ({payload_bytes} bytes, as in a nested"
        " JWT); every library"
        " decrypts the same jotgate-minted token and each library's output was decrypted and"
        " compared before timing. floor = the bare primitives of the case (AES-GCM, AES key"
        " wrap, ECDH + Concat KDF with the epk imported per token, RSA-OAEP), no parsing.",
        "- DPoP: each call verifies a new proof (made untimed before the batch) for"
        " `GET https://api.example.com/notes` with `ath` and `expected_jkt`, storing its `jti`"
        " in a `MemoryReplayCache`; the floor verifies a new ~proof-sized signing input each"
        " call. Cold key = every proof from a new client key (JWK import + thumbprint).",
        "",
        "## Targets",
        "",
        *jwe_targets,
        *dpop_targets,
        "",
        "## JWE: median µs per op (lower is better)",
        "",
        *jwe_table,
        "",
        "## DPoP: median µs per op",
        "",
        *dpop_table,
        "",
        "## Spread: IQR as % of the median",
        "",
        *_spread(run),
        "",
    ]
    if run.notes:
        parts += ["## Notes", "", *(f"- {n}" for n in run.notes), ""]
    parts.append(END)
    return "\n".join(parts) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving the rest."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old, count=1)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new, encoding="utf-8")
