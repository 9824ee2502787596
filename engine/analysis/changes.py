"""Whether two versions of a ruleset can classify any account differently, decided
from the rules alone (`tierline diff OLD NEW` without data).

Both versions are encoded over one set of inputs (`smt.Inputs`: an input of one
name is one variable). The pairs an account could make (old outcome, new
outcome) are enumerated from the pair index over both versions' tiers: two
tiers that may share an account, and each tier with "no tier of the other
version near it". For each pair of different tiers the solver is asked for an
account that gets the old one under the old version and the new one under
the new; the facts name only the tiers near the pair (a tier not near it
cannot hold where it does), so a query stays small in a ruleset of 1,000
tiers. Labels: for each label of either version, an account that has it under
one and not the other. Each witness is decided by both versions' evaluators
(`Decide`, from the caller) before it is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import z3

from engine.analysis.analyze import approximate_reaches
from engine.analysis.pairs import pair_index
from engine.analysis.prove import TRIES
from engine.analysis.smt import Encoding, Inputs, Solver
from engine.checker.model import CheckedRuleset
from engine.language import codes

REFUSED = "(error)"  # an account policy unique refuses: two tiers match it (the analysis
# of each version refuses such a file, so a loaded version has none)


@dataclass(frozen=True)
class Change:
    old: str  # the tier name, "" for none, REFUSED
    new: str
    witness: dict[str, Any] | None  # None: the solver's accounts did not replay
    label: str | None = None  # a label change: the label; old == new is then allowed
    gained: bool = False  # for a label change: the new version adds it


@dataclass
class Changes:
    changes: list[Change] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # what the budget left open
    queries: int = 0

    @property
    def equivalent(self) -> bool:
        return not self.changes and not self.undecided


# An account's outcome in the evaluator: (tier, "" for none, REFUSED; labels), None
# when the evaluator refuses the account's values (never for a solver's account).
Decide = Callable[[dict[str, Any]], tuple[str, frozenset[str]] | None]


class IncomparableError(Exception):
    """The versions declare one input with two types: no account suits both."""


def changes(
    old: CheckedRuleset,
    new: CheckedRuleset,
    decide_old: Decide,
    decide_new: Decide,
    budget_ms: int = 1_000,
) -> Changes:
    for name, decl in old.inputs.items():
        other = new.inputs.get(name)
        if other is not None and other.type is not decl.type:
            raise IncomparableError(
                f"input {name} is {decl.type.value} in the old version and "
                f"{other.type.value} in the new one: no account suits both"
            )
    inputs = Inputs.of([old, new])
    solver = Solver(inputs, budget_ms)
    encodings = (Encoding(old, inputs), Encoding(new, inputs))
    found = Changes()
    decides = (decide_old, decide_new)
    sides = (_Side(encodings[0], old), _Side(encodings[1], new))
    near = _near(sides)
    witnessed: set[tuple[str, str]] = set()  # a pair once shown needs no second account
    for a, b in _candidates(sides, near):
        old_tier, new_tier = sides[0].name(a), sides[1].name(b)
        if old_tier == new_tier or (old_tier, new_tier) in witnessed:
            continue
        facts = sides[0].gives(a, near, 0, other=(b, sides[1]))
        facts += sides[1].gives(b, near, 1, other=(a, sides[0]))

        def moved(account: dict[str, Any], x: str = old_tier, y: str = new_tier) -> bool:
            before, after = decides[0](account), decides[1](account)
            return before is not None and after is not None and (before[0], after[0]) == (x, y)

        status, account = solver.confirmed(facts, moved, TRIES)
        if status == "undecided":
            no_tier = codes.text("no-tier")
            found.undecided.append(
                codes.text("moves", old=old_tier or no_tier, new=new_tier or no_tier)
            )
        elif status == "sat":
            found.changes.append(Change(old_tier, new_tier, account))
            witnessed.add((old_tier, new_tier))
    for label in dict.fromkeys([r.name for r in old.labels] + [r.name for r in new.labels]):
        has = [_has(e, label) for e in encodings]
        for gained in (True, False):
            facts = [has[1] if gained else has[0], z3.Not(has[0] if gained else has[1])]
            model = solver.check(*facts)
            if model is None:
                found.undecided.append(
                    codes.text("label-gained" if gained else "label-lost", label=label)
                )
            elif model is not False:

                def relabelled(account: dict[str, Any], g: bool = gained, n: str = label) -> bool:
                    was, now = decides[0](account), decides[1](account)
                    if was is None or now is None:
                        return False
                    before, after = was[1], now[1]
                    return (
                        (n in after and n not in before) if g else (n in before and n not in after)
                    )

                account = solver.confirmed(facts, relabelled, TRIES)[1]
                was = decides[0](account) if account else None
                now = decides[1](account) if account else None
                tiers = (was[0] if was else "", now[0] if now else "")
                found.changes.append(Change(tiers[0], tiers[1], account, label, gained))
    found.queries = solver.queries
    return found


class _Side:
    """One version's tiers with conditions, and what gives each outcome. An outcome is
    the index of a tier with a condition, or None: no tier matched (the `otherwise`
    tier, or no tier at all)."""

    def __init__(self, encoding: Encoding, checked: CheckedRuleset):
        self.encoding = encoding
        self.checked = checked
        self.tiers = [r for r in checked.tiers if r.when is not None]
        self.fallback = next((r.tier or "" for r in checked.tiers if r.when is None), "")
        self.conds = [encoding.condition(r) for r in self.tiers]

    def name(self, index: int | None) -> str:
        return self.fallback if index is None else (self.tiers[index].tier or "")

    def gives(
        self,
        index: int | None,
        near: dict[tuple[int, int], set[tuple[int, int]]],
        side: int,
        other: tuple[int | None, _Side] | None = None,
    ) -> list[z3.BoolRef]:
        """Facts for "this version gives outcome `index`": its condition, and no tier
        that takes it first (under `first`) or matches too (under `unique`); for no
        tier, no tier near the other side's outcome (tiers not near it cannot hold
        where it does, so only those need saying)."""
        if index is not None:
            rivals = [k for (s, k) in near[(side, index)] if s == side
                      and (self.checked.policy == "unique" or k < index)]  # fmt: skip
            return [self.conds[index], *[z3.Not(self.conds[k]) for k in rivals]]
        if other is not None and other[0] is not None:
            around = {k for (s, k) in near[(1 - side, other[0])] if s == side}
        else:  # every tier: the other side gives none too (asked only for a fallback)
            around = set(range(len(self.tiers)))
        return [z3.Not(self.conds[k]) for k in sorted(around)]


def _near(sides: tuple[_Side, _Side]) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """For each tier of either version, the tiers of both that may share an account
    with it (by the pair index over their approximate reaches)."""
    keys = [(0, i) for i in range(len(sides[0].tiers))] + [
        (1, j) for j in range(len(sides[1].tiers))
    ]
    reaches = approximate_reaches(sides[0].checked) + approximate_reaches(sides[1].checked)
    index = pair_index(reaches)
    near: dict[tuple[int, int], set[tuple[int, int]]] = {key: set() for key in keys}
    for later, key in enumerate(keys):
        for earlier in index.earlier(later):
            near[key].add(keys[earlier])
            near[keys[earlier]].add(key)
    return near


def _candidates(
    sides: tuple[_Side, _Side], near: dict[tuple[int, int], set[tuple[int, int]]]
) -> Iterator[tuple[int | None, int | None]]:
    """Every (old outcome, new outcome) pair that one account could make: tiers that
    may share an account, and each tier with no tier of the other version."""
    for i in range(len(sides[0].tiers)):
        for side, j in sorted(near[(0, i)]):
            if side == 1:
                yield i, j
        yield i, None
    for j in range(len(sides[1].tiers)):
        yield None, j
    if sides[0].fallback != sides[1].fallback:  # `otherwise` gives another tier now
        yield None, None


def _has(encoding: Encoding, label: str) -> z3.BoolRef:
    """The account has the label (an account refused as ambiguous has none)."""
    rule = next((r for r in encoding.checked.labels if r.name == label), None)
    if rule is None:
        return z3.BoolVal(False)
    return z3.And(encoding.condition(rule), z3.Not(encoding.ambiguous()))
