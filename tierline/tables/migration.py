"""What a rule change does to a table: every row's old and new tier and labels.

In: the old and new rulesets and a table (through `joint.py`, one pass). Out:
a `Migration`: the matrix of old tier by new tier over every row (unchanged
rows on its diagonal), for each label how many rows gain and lose it, and for
each changed cell up to K accounts, each replayed through both rulesets in
Python for its explanations. A replayed account must get the tier the SQL
gave it; if it does not, that is a bug in tierline and the diff stops with it
rather than show a wrong example.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine import Ruleset
from engine.language.languages import explanation
from engine.python.values import ClassifyError
from tierline.tables.compare import outcomes_of, run_joint
from tierline.tables.joint import REFUSED, Example, Joint
from tierline.tables.why import refusal, why


class Disagreement(Exception):
    """The Python evaluator and the SQL gave one row different outcomes."""


@dataclass(frozen=True)
class Side:
    """A row under one version: its outcome, labels, and why, short and in full."""

    tier: str  # "" for no tier, REFUSED for a refused row
    labels: tuple[str, ...]
    why: str
    explanation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "labels": list(self.labels),
            "why": self.why,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class Moved:
    """An example: one row that the change moves, under both versions."""

    id: Any
    account: dict[str, Any]
    old: Side
    new: Side


@dataclass(frozen=True)
class Migration:
    old_name: str
    new_name: str
    old_tiers: tuple[str, ...]
    new_tiers: tuple[str, ...]
    rows: int
    matrix: dict[tuple[str, str], int]  # (old, new) -> rows, every row counted once
    labels: dict[str, tuple[int, int]]  # label -> (rows that gain it, rows that lose it)
    relabelled: int  # rows whose labels change
    examples: dict[tuple[str, str], list[Moved]]  # per changed cell; label-only changes
    # are filed under (tier, tier)
    id_name: str
    seconds: float

    @property
    def changed(self) -> int:
        return sum(c for (a, b), c in self.matrix.items() if a != b)

    def tier_counts(self) -> dict[str, tuple[int, int]]:
        """Each tier's rows before and after, in the new version's order, then the old's."""
        before: Counter[str] = Counter()
        after: Counter[str] = Counter()
        for (a, b), c in self.matrix.items():
            before[a] += c
            after[b] += c
        order = dict.fromkeys([*self.new_tiers, *self.old_tiers])
        return {t: (before[t], after[t]) for t in order}

    @property
    def equivalent(self) -> bool:
        return self.changed == 0 and self.relabelled == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "old": self.old_name,
            "new": self.new_name,
            "changed": self.changed,
            "relabelled": self.relabelled,
            "matrix": [
                {"from": a, "to": b, "count": c, "share": round(c / self.rows, 6)}
                for (a, b), c in self.matrix.items()
            ],
            "labels": {
                name: {"gained": g, "lost": lost} for name, (g, lost) in self.labels.items()
            },
            "examples": [
                {
                    "from": a,
                    "to": b,
                    self.id_name: m.id,
                    "input": m.account,
                    "old": m.old.to_json(),
                    "new": m.new.to_json(),
                }
                for (a, b), moved in self.examples.items()
                for m in moved
            ],
        }


def migrate(
    old: Ruleset,
    new: Ruleset,
    inputs: list[str],
    mapping: Mapping[str, str] | None = None,
    id_column: str | None = None,
    examples: int = 3,
    progress: bool = False,
    engine: str = "duckdb",
    master: str = "local[*]",
) -> Migration:
    checked = [old.checked, new.checked]
    found = run_joint(checked, inputs, mapping, id_column, examples, True, progress, engine, master)
    return migration(old, new, found, examples)


def migration(
    old: Ruleset, new: Ruleset, found: Joint, examples: int = 3, language: str = "en"
) -> Migration:
    """The migration matrix of `found`, with up to `examples` rows per move replayed
    through both versions; their reasons in `language` (the studio's German)."""
    old_tiers, new_tiers = outcomes_of(old, found.cells, 0), outcomes_of(new, found.cells, 1)
    matrix: Counter[tuple[str, str]] = Counter()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    relabelled = 0
    drawn: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for cell in found.cells:
        key = (cell.outcomes[0], cell.outcomes[1])
        matrix[key] += cell.count
        before, after = set(cell.labels[0]), set(cell.labels[1])
        for name in after - before:
            gained[name] += cell.count
        for name in before - after:
            lost[name] += cell.count
        if before != after:
            relabelled += cell.count
        if key[0] != key[1] or before != after:
            drawn[key] += cell.examples
    rank_old = {t: i for i, t in enumerate(old_tiers)}
    rank_new = {t: i for i, t in enumerate(new_tiers)}

    def order(key: tuple[str, str]) -> tuple[int, int]:
        return rank_old[key[0]], rank_new[key[1]]

    ordered = dict(sorted(matrix.items(), key=lambda kv: order(kv[0])))
    names = [r.name for r in old.checked.labels] + [r.name for r in new.checked.labels]
    label_changes = {n: (gained[n], lost[n]) for n in dict.fromkeys(names) if gained[n] or lost[n]}
    moved = {
        key: [
            _replay(old, new, e, key, language)
            for e in sorted(drawn[key], key=lambda e: e.order)[:examples]
        ]
        for key in sorted(drawn, key=order)
    }
    return Migration(
        old.name,
        new.name,
        old_tiers,
        new_tiers,
        found.rows,
        ordered,
        label_changes,
        relabelled,
        moved,
        found.id_name,
        found.seconds,
    )


def _replay(
    old: Ruleset, new: Ruleset, example: Example, key: tuple[str, str], language: str
) -> Moved:
    sides = [_side(rs, example, i, key[i], language) for i, rs in enumerate((old, new))]
    return Moved(example.id, example.account, sides[0], sides[1])


def _side(ruleset: Ruleset, example: Example, i: int, expected: str, language: str) -> Side:
    error = example.errors[i]
    if error is not None:
        said = refusal(error, language)
        return Side(REFUSED, (), said, said)
    try:
        decision = ruleset.classify(example.account)
    except ClassifyError as problem:
        raise Disagreement(
            f"row {example.id!r}: the SQL classified it as {expected or 'no tier'} under "
            f"{ruleset.name}, the Python evaluator refused it: {problem}"
        ) from None
    tier = decision.tier or ""
    if tier != expected:
        raise Disagreement(
            f"row {example.id!r}: the SQL gave {expected or 'no tier'} under {ruleset.name}, "
            f"the Python evaluator {tier or 'no tier'}"
        )
    conditions = [r.text for r in decision.reasons] if language != "en" else []
    return Side(
        tier,
        tuple(decision.labels),
        why(ruleset, decision, language),
        explanation(decision.explain(), language, conditions),
    )
