"""classify_many by batch size: its columnar path against its row path (issue 29).

`engine.ruleset.COLUMNAR_FROM` is the batch size from which `classify_many` of a
list of dicts runs the columnar evaluator; this benchmark is where that number comes
from. For two rulesets (the `peers` benchmark's six tiers over two inputs, and
`rules/synthesis.tiers` over five, with a set, a text and a default) and batches of
100 to 200,000 Kim et al. accounts, each path classifies about TOTAL accounts a
round (a small batch repeated), the two paths in turn, their order swapped every
round; figures are the median over ROUNDS of (row path time / columnar path time).
Both paths must give every account the same tier, labels and rule first.

Run: `.venv/bin/python -m benchmarks.run columnar_crossover` (TIERLINE_BENCH_ROUNDS
sets the rounds, default 5).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import engine.ruleset
from benchmarks.accounts import accounts
from benchmarks.peers import SIX_TIERS
from engine import Decision, Ruleset, load_ruleset

SIZES = (100, 300, 1_000, 2_000, 5_000, 20_000, 200_000)
TOTAL = 100_000  # accounts a path classifies a round, whatever the batch size
ROUNDS = int(os.environ.get("TIERLINE_BENCH_ROUNDS", "5"))


def _answers(many: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (d.tier, d.labels, d.rule) if isinstance(d, Decision) else (type(d), str(d)) for d in many
    ]


def _seconds(ruleset: Ruleset, batch: list[dict[str, Any]], start: int | None) -> float:
    """The time to classify TOTAL accounts as batches of len(batch), the columnar path
    from `start` accounts (None: never)."""
    engine.ruleset.COLUMNAR_FROM = start
    reps = max(1, TOTAL // len(batch))
    started = time.perf_counter()
    for _ in range(reps):
        ruleset.classify_many(batch)
    return (time.perf_counter() - started) / (reps * len(batch))


def main() -> list[tuple[str, str]]:
    data = accounts(max(SIZES))
    cases = {
        "six tiers, 2 inputs": (
            load_ruleset(text=SIX_TIERS, name="six"),
            [{"followers": a["followers"], "engagement_rate": a["engagement_rate"]} for a in data],
        ),
        "rules/synthesis.tiers, 5 inputs": (load_ruleset("rules/synthesis.tiers"), data),
    }
    default = engine.ruleset.COLUMNAR_FROM
    rows = [
        ("accounts", f"Kim et al. follower counts, batches of {', '.join(map(str, SIZES))}"),
        ("rounds", f"{ROUNDS}, the two paths in turn; {TOTAL:,} accounts a path a round"),
        ("COLUMNAR_FROM (the default)", f"{default:,}" if default else "None"),
    ]
    try:
        for name, (ruleset, items) in cases.items():
            for size in SIZES:
                batch = items[:size]
                engine.ruleset.COLUMNAR_FROM = None
                by_rows = _answers(ruleset.classify_many(batch))
                engine.ruleset.COLUMNAR_FROM = 1
                if _answers(ruleset.classify_many(batch)) != by_rows:
                    raise SystemExit(f"benchmarks.columnar_crossover: {name}, {size}: paths differ")
                row_s: list[float] = []
                col_s: list[float] = []
                for k in range(ROUNDS):
                    order = [(row_s, None), (col_s, 1)]
                    for into, start in order if k % 2 == 0 else order[::-1]:
                        into.append(_seconds(ruleset, batch, start))
                ratio = statistics.median(r / c for r, c in zip(row_s, col_s, strict=True))
                rows.append(
                    (
                        f"{name}, {size:,} accounts: columnar path / row path (speed)",
                        f"{ratio:.2f} (row {statistics.median(row_s) * 1e9:,.0f} ns, "
                        f"columnar {statistics.median(col_s) * 1e9:,.0f} ns a decision)",
                    )
                )
    finally:
        engine.ruleset.COLUMNAR_FROM = default
    return rows
