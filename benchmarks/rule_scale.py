"""Decision cost against the number of rules (issue 13, in part): generated rulesets of
N tiers, each `followers between A and B and platform == "pK"` (a band per platform,
as generated rulesets are), `otherwise none`. For N = 10, 1,000 and 3,000: the time to
load (check with analysis, compile), and the cost of a decision that matches the first
rule and one that matches the last. Accounts: made here, one per position; each
decision is checked against the tier it must give. Best of 5 repeats.

Run: `make bench`, or `.venv/bin/python -m benchmarks.run rule_scale`.
"""

from __future__ import annotations

import time
import timeit
from typing import Any

from engine import load_ruleset

SIZES = (10, 1_000, 3_000)


def ruleset_text(n: int) -> str:
    lines = ["ruleset scale", "input followers: count", "input platform: text"]
    for i in range(n):
        low = i * 1000
        lines.append(
            f'tier t{i} when followers between {low} and {low + 999} and platform == "p{i % 7}"'
        )
    return "\n".join([*lines, "otherwise none", ""])


def _ns(call: Any, number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e9


def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    first_costs = {}
    for n in SIZES:
        started = time.perf_counter()
        rs = load_ruleset(text=ruleset_text(n))
        loaded = time.perf_counter() - started
        first = {"followers": 5, "platform": "p0"}
        last = {"followers": (n - 1) * 1000 + 5, "platform": f"p{(n - 1) % 7}"}
        if rs.classify(first).tier != "t0" or rs.classify(last).tier != f"t{n - 1}":
            raise RuntimeError(f"{n} rules: a decision is not the tier it must be")
        first_ns = _ns(lambda: rs.classify(first), 20_000)  # noqa: B023 (called here)
        last_ns = _ns(lambda: rs.classify(last), max(20, 20_000 // n))  # noqa: B023
        first_costs[n] = first_ns
        per_rule = (last_ns - first_ns) / max(1, n - 1)
        rows += [
            (f"{n:,} tiers: load (check, analysis, compile)", f"{loaded:.2f} s"),
            (f"{n:,} tiers: match at the first rule, ns/decision", f"{first_ns:,.0f}"),
            (f"{n:,} tiers: match at the last rule, ns/decision", f"{last_ns:,.0f}"),
            (f"{n:,} tiers: ns per rule tried before the match", f"{per_rule:.1f}"),
        ]
    largest = SIZES[-1]
    ratio = first_costs[largest] / first_costs[SIZES[0]]
    rows.append((f"first-rule match, {largest:,} tiers / 10 tiers (target <= 1.5)", f"{ratio:.2f}"))
    return rows
