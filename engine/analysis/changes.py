"""Whether two versions of a ruleset can classify any account differently, decided
from the rules alone (`tierline diff OLD NEW` without data).

Both versions are encoded over one set of inputs (`smt.Inputs`: an input of one
name is one variable), each as the tier it gives (an integer naming the tier,
-1 for an account `policy unique` refuses as ambiguous). The solver is asked
for an account on which the two differ; each answer is one (old tier → new
tier) pair, with its witness replayed through both versions, and is then
excluded, until no other pair remains. So the queries number the pairs that
change plus one, whatever the size of the rulesets. Labels: for each label
of either version, an account that has it under one and not the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3

from engine.analysis.prove import TRIES, Replay
from engine.analysis.smt import Encoding, Inputs, Solver
from engine.checker.model import CheckedRuleset

REFUSED = "(error)"  # an account policy unique refuses: two tiers match it


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


class IncomparableError(Exception):
    """The versions declare one input with two types: no account suits both."""


def changes(
    old: CheckedRuleset,
    new: CheckedRuleset,
    replay_old: Replay,
    replay_new: Replay,
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
    names: dict[str, int] = {"": 0, REFUSED: -1}
    for checked in (old, new):
        for rule in checked.tiers:
            names.setdefault(rule.tier or "", len(names) - 1)
    tiers = [_chosen(e, names) for e in encodings]
    found = Changes()
    replays = (replay_old, replay_new)
    seen: list[z3.BoolRef] = []
    while True:
        model = solver.check(tiers[0] != tiers[1], *[z3.Not(s) for s in seen])
        if model is None:
            found.undecided.append("whether any other account changes tier")
            break
        if model is False:
            break
        pair = tuple(model.eval(t, model_completion=True).as_long() for t in tiers)
        by_id = {v: k for k, v in names.items()}
        old_tier, new_tier = by_id[pair[0]], by_id[pair[1]]
        seen.append(z3.And(tiers[0] == pair[0], tiers[1] == pair[1]))

        def moved(account: dict[str, Any], a: str = old_tier, b: str = new_tier) -> bool:
            return outcome(old, replays[0], account) == a and outcome(new, replays[1], account) == b

        facts = [tiers[0] == pair[0], tiers[1] == pair[1]]
        found.changes.append(Change(old_tier, new_tier, solver.confirmed(facts, moved, TRIES)[1]))
    for label in dict.fromkeys([r.name for r in old.labels] + [r.name for r in new.labels]):
        has = [_has(e, label) for e in encodings]
        for gained in (True, False):
            facts = [has[1] if gained else has[0], z3.Not(has[0] if gained else has[1])]
            model = solver.check(*facts)
            if model is None:
                found.undecided.append(f"whether label {label} is {'gained' if gained else 'lost'}")
            elif model is not False:

                def relabelled(account: dict[str, Any], g: bool = gained, n: str = label) -> bool:
                    before = _labels(old, replays[0], account)
                    after = _labels(new, replays[1], account)
                    return (
                        before is not None
                        and after is not None
                        and (
                            (n in after and n not in before)
                            if g
                            else (n in before and n not in after)
                        )
                    )

                account = solver.confirmed(facts, relabelled, TRIES)[1]
                a = outcome(old, replays[0], account) if account else ""
                b = outcome(new, replays[1], account) if account else ""
                found.changes.append(Change(a or "", b or "", account, label, gained))
    found.queries = solver.queries
    return found


def _chosen(encoding: Encoding, names: dict[str, int]) -> z3.ArithRef:
    """The id of the tier an account gets (-1: refused as ambiguous)."""
    checked = encoding.checked
    result: Any = z3.IntVal(0)
    for rule in reversed(checked.tiers):
        value = z3.IntVal(names[rule.tier or ""])
        result = value if rule.when is None else z3.If(encoding.condition(rule), value, result)
    if checked.policy == "unique":
        result = z3.If(encoding.ambiguous(), z3.IntVal(-1), result)
    return result


def _has(encoding: Encoding, label: str) -> z3.BoolRef:
    """The account has the label (an account refused as ambiguous has none)."""
    rule = next((r for r in encoding.checked.labels if r.name == label), None)
    if rule is None:
        return z3.BoolVal(False)
    return z3.And(encoding.condition(rule), z3.Not(encoding.ambiguous()))


def outcome(checked: CheckedRuleset, replay: Replay, account: dict[str, Any]) -> str | None:
    """The tier the evaluator gives (from the rules' conditions), "" for none, REFUSED."""
    held = replay(_own(checked, account))
    if held is None:
        return None
    matched = [r for r in checked.tiers if r.when is not None and held[("tier", r.name)]]
    if checked.policy == "unique" and len(matched) > 1:
        return REFUSED
    if matched:
        return matched[0].tier or ""
    fallback = next((r for r in checked.tiers if r.when is None), None)
    return (fallback.tier or "") if fallback else ""


def _labels(checked: CheckedRuleset, replay: Replay, account: dict[str, Any]) -> set[str] | None:
    held = replay(_own(checked, account))
    if held is None:
        return None
    if outcome(checked, replay, account) == REFUSED:
        return set()
    return {r.name for r in checked.labels if held[("label", r.name)]}


def _own(checked: CheckedRuleset, account: dict[str, Any]) -> dict[str, Any]:
    """The witness's values for the inputs this version declares."""
    return {k: v for k, v in account.items() if k in checked.inputs}
