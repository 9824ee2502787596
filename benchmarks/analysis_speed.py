"""The solver-backed analysis (issue 16): the shipped rulesets, 1,000 tiers that mix
counts, texts and sets, and `tierline diff` of two 1,000-tier versions without data.

Data: the rule files of `rules/` and `definitions/`, and the 1,000-tier ruleset of
`check_speed` (each tier a band of followers, high engagement, and topics or a
platform: sets and texts the intervals cannot read, so each goes to the solver).
The new version moves one band's bound and the engagement threshold. Figures:
`check_source` in this process (parse, check, intervals and solver), best of
ROUNDS; and `tierline check` / `tierline diff` as processes (Python start
included), median of ROUNDS.

Run: `.venv/bin/python -m benchmarks.run analysis_speed`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.check_speed import best_of, generated
from engine import Ruleset
from engine.language.source import Source
from engine.load import check_source, read_source
from engine.ruleset import rule_changes

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
Rows = list[tuple[str, str]]


def _best(fn: object) -> float:
    return best_of(ROUNDS, fn)


def _process(command: list[str]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=False, timeout=600)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> Rows:
    rows: Rows = []
    shipped = sorted([*(ROOT / "rules").glob("*.tiers"), *(ROOT / "definitions").rglob("*.tiers")])
    slowest = max((_best(lambda p=p: check_source(read_source(p))), p) for p in shipped)
    rows.append(
        (
            f"shipped rulesets ({len(shipped)}), the slowest check_source (target < 0.3 s)",
            f"{slowest[0]:.3f} s ({slowest[1].relative_to(ROOT)})",
        )
    )
    text = generated(1_000)
    edited = text.replace("between 5000 and 5999", "between 5000 and 6499").replace(
        "tier t6 when followers between 6000", "tier t6 when followers between 6500"
    )
    edited = edited.replace("high   at least 3.5%", "high   at least 3%")
    old = Ruleset(check_source(Source(text, "old.tiers")))
    new = Ruleset(check_source(Source(edited, "new.tiers")))
    rows.append(
        (
            "1,000 tiers (counts, texts, sets): check_source in process",
            f"{_best(lambda: check_source(Source(text, 'g.tiers'))):.2f} s",
        )
    )
    found = rule_changes(old, new)
    diff_s = _best(lambda: rule_changes(old, new))
    pairs = sorted({(c.old, c.new) for c in found.changes if c.label is None})
    shown = ", ".join(f"{a or '(none)'}->{b or '(none)'}" for a, b in pairs[-3:])
    rows.append(
        (
            "diff of two 1,000-tier versions, rules alone, in process (target < 5 s)",
            f"{diff_s:.2f} s, {found.queries} queries, {len(pairs)} tier pairs "
            f"(each witnessed), e.g. {shown}",
        )
    )
    with tempfile.TemporaryDirectory() as where:
        a, b = Path(where) / "old.tiers", Path(where) / "new.tiers"
        a.write_text(text)
        b.write_text(edited)
        cli = [sys.executable, "-m", "tierline"]
        rows.append(
            (
                "tierline check, 1,000 tiers, as a process (target < 2 s)",
                f"{_process([*cli, 'check', str(a)]):.2f} s",
            )
        )
        rows.append(
            (
                "tierline diff OLD NEW, 1,000 tiers each, no data, as a process",
                f"{_process([*cli, 'diff', str(a), str(b), '--format', 'json']):.2f} s",
            )
        )
    return rows
