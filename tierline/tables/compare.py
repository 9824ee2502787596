"""How several definitions classify the same accounts, and where they disagree.

In: rulesets and a table (through `joint.py`, one pass). Out: a `Comparison`:
each ruleset's tier counts; for every pair of rulesets the cross-table of
their tiers and how many rows they give the same tier; how many rows every
ruleset puts in the same tier (for each tier); for a focus tier (`micro` by
default) how many definitions call each row that; and the combinations of
tiers that disagree most, with accounts; each ruleset's labels and how many
rows have each. Two rulesets "agree" on a row when they give it the same tier
name, no tier (`""`) or both refuse it. A share of nothing (0 of 0 rows) is
None, never 0 or 1: no definition's micro accounts cannot agree 100%.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, TypeVar

from engine import Ruleset
from engine.checker.model import CheckedRuleset
from tierline.tables.joint import REFUSED, Cell, Example, Joint, joint

Key = TypeVar("Key", str, tuple[str, str], tuple[str, ...])


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    cross: dict[tuple[str, str], int]  # (tier under a, tier under b) -> rows
    same: int  # rows on which a and b agree
    both: int  # rows that a and b both give the focus tier
    either: int  # rows that a or b gives the focus tier


@dataclass(frozen=True)
class Dispute:
    """A combination of tiers, one per ruleset, with the rows that got it."""

    tiers: tuple[str, ...]
    count: int
    examples: tuple[Example, ...]

    @property
    def spread(self) -> int:
        return len(set(self.tiers))


@dataclass(frozen=True)
class Comparison:
    names: tuple[str, ...]
    titles: tuple[str, ...]
    tiers: tuple[tuple[str, ...], ...]  # per ruleset, its outcomes in its own order
    rows: int
    counts: dict[str, dict[str, int]]  # ruleset -> outcome -> rows
    pairs: list[Pair]
    unanimous: dict[str, int]  # outcome -> rows that every ruleset gives it
    focus: str | None  # the tier whose agreement is counted
    focus_votes: dict[int, int]  # k -> rows that exactly k rulesets give the focus tier
    focus_sets: dict[tuple[str, ...], int]  # which rulesets give it -> rows, most first
    disputes: list[Dispute]  # the most divided combinations first
    id_name: str
    seconds: float
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # ruleset -> label -> rows

    @property
    def warnings(self) -> list[str]:
        """What makes the comparison say little, said before anyone reads it as an answer."""
        if self.rows == 0:
            return ["the data has no rows: there is nothing to compare"]
        if self.focus is not None and self.focus_votes.get(0, 0) == self.rows:
            return [
                f"no row of the data is {self.focus} under any definition, so their agreement "
                f"on {self.focus} says nothing: the table may hold no accounts in the range "
                f"of {self.focus}, or a column may be mapped or read wrongly (a percent is a "
                "fraction: 4.2% is 0.042); --tier T counts agreement on another tier"
            ]
        return []

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rulesets": [
                {"name": n, "title": t} for n, t in zip(self.names, self.titles, strict=True)
            ],
            "counts": self.counts,
            "labels": self.labels,
            "warnings": self.warnings,
            "agreement": {
                "pairs": [
                    {
                        "a": p.a,
                        "b": p.b,
                        "same": p.same,
                        "share": share(p.same, self.rows),
                        "both_focus": p.both,
                        "either_focus": p.either,
                        "focus_overlap": share(p.both, p.either),
                        "cross": [
                            {"a": ta, "b": tb, "count": c} for (ta, tb), c in p.cross.items()
                        ],
                    }
                    for p in self.pairs
                ],
                "unanimous": self.unanimous,
                "focus": None
                if self.focus is None
                else {
                    "tier": self.focus,
                    "by_how_many": {str(k): v for k, v in sorted(self.focus_votes.items())},
                    "by_which": [
                        {"rulesets": list(k), "rows": v} for k, v in self.focus_sets.items()
                    ],
                },
                "disputed": [
                    {
                        "tiers": dict(zip(self.names, d.tiers, strict=True)),
                        "count": d.count,
                        "examples": [
                            _example_json(e, self.id_name, self.names) for e in d.examples
                        ],
                    }
                    for d in self.disputes
                ],
            },
        }


def compare(
    rulesets: list[Ruleset],
    inputs: list[str],
    mapping: Mapping[str, str] | None = None,
    id_column: str | None = None,
    examples: int = 3,
    focus: str | None = None,
    progress: bool = False,
    engine: str = "duckdb",
    master: str = "local[*]",
) -> Comparison:
    checked = [r.checked for r in rulesets]
    found = run_joint(checked, inputs, mapping, id_column, examples, True, progress, engine, master)
    return comparison(rulesets, found, focus, examples)


def run_joint(
    rulesets: list[CheckedRuleset],
    inputs: list[str],
    mapping: Mapping[str, str] | None,
    id_column: str | None,
    examples: int,
    labels: bool,
    progress: bool,
    engine: str,
    master: str,
) -> Joint:
    """`joint` on DuckDB (embedded), or on Spark (`master`: local mode or a cluster)."""
    if engine == "spark":
        from tierline.tables.spark import joint_spark

        return joint_spark(rulesets, inputs, mapping, id_column, examples, labels, master)
    return joint(rulesets, inputs, mapping, id_column, examples, labels, progress)


def comparison(
    rulesets: list[Ruleset], found: Joint, focus: str | None = None, examples: int = 3
) -> Comparison:
    """The comparison of the joint outcomes; with labels in `found`, their counts too."""
    names = tuple(r.name for r in rulesets)
    n = len(names)
    tiers = tuple(outcomes_of(r, found.cells, i) for i, r in enumerate(rulesets))
    counts = {name: dict.fromkeys(tiers[i], 0) for i, name in enumerate(names)}
    for cell in found.cells:
        for i, name in enumerate(names):
            counts[name][cell.outcomes[i]] += cell.count
    unanimous: Counter[str] = Counter()
    for cell in found.cells:
        if len(set(cell.outcomes)) == 1:
            unanimous[cell.outcomes[0]] += cell.count
    if focus is None and all("micro" in t for t in tiers):
        focus = "micro"
    votes: Counter[int] = Counter()
    sets: Counter[tuple[str, ...]] = Counter()
    if focus is not None:
        for cell in found.cells:
            saying = tuple(name for name, o in zip(names, cell.outcomes, strict=True) if o == focus)
            votes[len(saying)] += cell.count
            sets[saying] += cell.count
    pairs = [_pair(names, i, j, found.cells, focus) for i, j in combinations(range(n), 2)]
    disputes = _disputes(found.cells, examples)
    return Comparison(
        names=names,
        titles=tuple(r.checked.title for r in rulesets),
        tiers=tiers,
        rows=found.rows,
        counts=counts,
        pairs=pairs,
        unanimous=_most_first(unanimous),
        focus=focus,
        focus_votes={k: votes.get(k, 0) for k in range(n + 1)} if focus is not None else {},
        focus_sets=_most_first(sets),
        disputes=[d for d in disputes if d.spread > 1][:10],
        id_name=found.id_name,
        seconds=found.seconds,
        labels=_label_counts(rulesets, found.cells),
    )


def _disputes(cells: list[Cell], examples: int) -> list[Dispute]:
    """The combinations of tiers, the cells of one combination (split by labels) merged,
    each with its `examples` rows of smallest hash; the most divided first."""
    merged: dict[tuple[str, ...], list[Cell]] = {}
    for cell in cells:
        merged.setdefault(cell.outcomes, []).append(cell)
    disputes = [
        Dispute(
            tiers,
            sum(c.count for c in group),
            tuple(sorted((e for c in group for e in c.examples), key=lambda e: e.order))[:examples],
        )
        for tiers, group in merged.items()
    ]
    disputes.sort(key=lambda d: (-d.spread, -d.count, d.tiers))
    return disputes


def _label_counts(rulesets: list[Ruleset], cells: list[Cell]) -> dict[str, dict[str, int]]:
    """Per ruleset, each label it declares (in its order) -> the rows that have it."""
    counts = {r.name: dict.fromkeys((rule.name for rule in r.checked.labels), 0) for r in rulesets}
    for cell in cells:
        for ruleset, labels in zip(rulesets, cell.labels, strict=False):
            for label in labels:
                counts[ruleset.name][label] = counts[ruleset.name].get(label, 0) + cell.count
    return counts


def outcomes_of(ruleset: Ruleset, cells: list[Cell], i: int) -> tuple[str, ...]:
    """The ruleset's tiers in the order it declares them, then no tier and refused
    (those two only where some row has them, or the ruleset can give no tier)."""
    declared = list(ruleset.checked.tier_names())
    seen = {cell.outcomes[i] for cell in cells}
    can_miss = not any(r.kind == "otherwise" and r.tier is not None for r in ruleset.checked.tiers)
    extra = [o for o in ("", REFUSED) if o in seen or (o == "" and can_miss)]
    return tuple(declared + [o for o in seen if o not in declared and o not in extra] + extra)


def _pair(names: tuple[str, ...], i: int, j: int, cells: list[Cell], focus: str | None) -> Pair:
    cross: Counter[tuple[str, str]] = Counter()
    for cell in cells:
        cross[(cell.outcomes[i], cell.outcomes[j])] += cell.count
    same = sum(c for (a, b), c in cross.items() if a == b)
    both = cross.get((focus, focus), 0) if focus is not None else 0
    either = sum(c for (a, b), c in cross.items() if focus in (a, b)) if focus is not None else 0
    return Pair(names[i], names[j], _most_first(cross), same, both, either)


def _most_first(counts: Counter[Key]) -> dict[Key, int]:
    """Largest count first, ties in the order of their keys: the same order every run."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def share(part: int, whole: int) -> float | None:
    """`part` of `whole` as a fraction; None for a share of nothing (0 of 0)."""
    return round(part / whole, 6) if whole else None


def _example_json(example: Example, id_name: str, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {id_name: example.id, "input": example.account}
    if example.labels:
        out["labels"] = {n: list(ls) for n, ls in zip(names, example.labels, strict=True)}
    return out
