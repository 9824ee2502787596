"""Speed of `Ruleset.classify` (issue 3), as ratios measured in one run.

- tierline on rules/synthesis.tiers vs a hand-written if/elif function that
  validates the same inputs and returns the same Decision type;
- a 50-tier ruleset: cost per decision by the position of the matching rule;
- explain() vs a plain decision.
Other engines on one ruleset: `benchmarks/peers.py`.
Run: `make bench`, or `.venv/bin/python -m benchmarks.evaluate_speed`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.accounts import accounts, source
from engine import load_ruleset
from engine.decision import Decision
from engine.python.values import validate
from engine.ruleset import Ruleset

ROOT = Path(__file__).resolve().parent.parent


def per_call(fn: Callable[[Any], Any], items: list[Any], repeat: int = 5) -> float:
    """Best seconds per call over `repeat` passes through `items`."""
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, (time.perf_counter() - started) / len(items))
    return best


def hand_written(rs: Ruleset) -> Callable[[dict[str, Any]], Decision]:
    """What a careful developer would write for synthesis.tiers by hand."""
    rules = {r.name: r for r in rs.checked.tiers}
    mega, macro, micro, nano, none = (rules[n] for n in ("mega", "macro", "micro", "nano", "none"))
    inputs = rs.checked.inputs
    fashion, tech = frozenset({"fashion"}), frozenset({"tech", "gaming"})

    def classify(raw: dict[str, Any]) -> Decision:
        try:
            followers = raw["followers"]
            rate = raw["engagement_rate"]
            topics = raw["topics"]
            platform = raw["platform"]
        except (KeyError, TypeError):
            return classify(validate(inputs, raw))
        fake = raw.get("fake_follower_ratio")
        if fake is None:
            fake = 0.0
        if (
            type(followers) is not int
            or followers < 0
            or type(rate) not in (int, float)
            or not math.isfinite(rate)
            or type(topics) not in (list, tuple, set, frozenset)
            or not all(type(t) is str for t in topics)
            or type(platform) is not str
            or type(fake) not in (int, float)
            or not math.isfinite(fake)
        ):
            return classify(validate(inputs, raw))
        high = rate >= 0.035
        if followers >= 1_000_000:
            rule = mega
        elif 100_000 <= followers <= 1_000_000:
            rule = macro
        elif 10_000 <= followers <= 100_000 and high:
            rule = micro
        elif 1_000 <= followers <= 10_000:
            rule = nano
        else:
            rule = none
        labels: tuple[str, ...] = ()
        if high and not fashion.isdisjoint(topics):
            labels += ("fashion_expert",)
        if high and not tech.isdisjoint(topics):
            labels += ("tech_expert",)
        if fake > 0.25:
            labels += ("suspicious",)
        return Decision(rs, rule, labels, raw)

    return classify


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    items = accounts(10_000)
    rows.append(("accounts", f"{len(items):,} from {source()}"))
    rs = load_ruleset(ROOT / "rules" / "synthesis.tiers")
    baseline = hand_written(rs)
    for item in items[:2000]:  # the baseline decides exactly as the rules do
        a, b = rs.classify(item), baseline(item)
        assert (a.tier, a.labels) == (b.tier, b.labels), item
    t_rs = per_call(rs.classify, items)
    t_hand = per_call(baseline, items)
    rows.append(("synthesis: tierline classify (validated), decisions/s", f"{1 / t_rs:,.0f}"))
    rows.append(("synthesis: hand-written if/elif (validated), decisions/s", f"{1 / t_hand:,.0f}"))
    rows.append(
        ("synthesis: tierline speed / hand-written (target >= 0.60)", f"{t_hand / t_rs:.2f}")
    )

    many = items * 20  # 200,000 accounts, as a batch job passes them
    t_loop = min(_timed(lambda: [rs.classify(a) for a in many]) for _ in range(3)) / len(many)
    t_many = min(_timed(lambda: rs.classify_many(many)) for _ in range(3)) / len(many)
    rows.append(("classify_many, 200,000 accounts kept, decisions/s", f"{1 / t_many:,.0f}"))
    rows.append(("a list of classify, 200,000 accounts kept, decisions/s", f"{1 / t_loop:,.0f}"))
    rows.append(("classify_many / plain classify (target >= 0.90)", f"{t_rs / t_many:.2f}"))

    t_explain = per_call(lambda a: rs.classify(a).explain(), items[:3000], repeat=3)
    t_reasons = per_call(lambda a: rs.classify(a).reasons, items[:3000], repeat=3)
    rows.append(("explain() cost / plain decision (target <= 5)", f"{t_explain / t_rs:.1f}"))
    rows.append(("reasons only (no text) cost / plain decision", f"{t_reasons / t_rs:.1f}"))

    fifty = (
        "input followers: count\n"
        + "".join(
            f"tier t{i} when followers between {i * 1000} and {i * 1000 + 999}\n" for i in range(50)
        )
        + "otherwise none\n"
    )
    rs50 = load_ruleset(text=fifty, name="fifty")
    costs = {}
    for position in (1, 10, 25, 50):
        batch = [{"followers": (position - 1) * 1000 + 500}] * 5000
        costs[position] = per_call(rs50.classify, batch)
        rows.append(
            (f"50 tiers: match at rule {position}, ns/decision", f"{costs[position] * 1e9:,.0f}")
        )
    slope = (costs[50] - costs[1]) / 49
    rows.append(("50 tiers: ns per extra rule tried before the match", f"{slope * 1e9:,.1f}"))
    rows.append(
        (
            "50 tiers: cost(50) / (cost(1) + 49 x slope) (linear = 1.00)",
            f"{costs[50] / (costs[1] + 49 * slope):.2f}",
        )
    )

    return rows


if __name__ == "__main__":
    for name, value in main():
        print(f"{name:70} {value}")
