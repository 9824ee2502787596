"""Accounts that reach a tier or a label: for the tiers and labels no example reaches,
an account to write an example with (`tierline check --suggest-examples`).

For a tier under its policy, the account must get that tier (not only match its
condition); for a label, hold it. Each account is replayed through the evaluator
(`replay`) before it is returned.
"""

from __future__ import annotations

from typing import Any

import z3

from engine.analysis.changes import REFUSED
from engine.analysis.prove import TRIES, Replay
from engine.analysis.smt import Encoding, Inputs, Solver
from engine.checker.model import CheckedRuleset


def reaching(
    checked: CheckedRuleset, replay: Replay, tier: str | None = None, label: str | None = None,
    budget_ms: int = 1_000,
) -> dict[str, Any] | None:  # fmt: skip
    """An account that gets `tier` ("" for no tier), or has `label`; None when no account
    does, or the solver could not find one that the evaluator confirms."""
    inputs = Inputs.of([checked])
    encoding = Encoding(checked, inputs)
    solver = Solver(inputs, budget_ms)
    if label is not None:
        rule = next(r for r in checked.labels if r.name == label)
        facts = [encoding.condition(rule), z3.Not(encoding.ambiguous())]
    else:
        facts = [encoding.tier_is(tier or None), z3.Not(encoding.ambiguous())]

    def gets(account: dict[str, Any]) -> bool:
        got = outcome(checked, replay, account)
        if label is None:
            return got == (tier or "")
        held = replay(account)
        return held is not None and held[("label", label)] and got != "(error)"

    return solver.confirmed(facts, gets, TRIES)[1]


def outcome(checked: CheckedRuleset, replay: Replay, account: dict[str, Any]) -> str | None:
    """The tier the evaluator gives (from the rules' conditions), "" for none, REFUSED."""
    held = replay(_own(checked, account))
    if held is None:
        return None
    if checked.policy == "first":  # the first that holds: the rest need no evaluating
        first = next((r for r in checked.tiers if r.when is None or held[("tier", r.name)]), None)
        return (first.tier or "") if first is not None else ""
    matched = [r for r in checked.tiers if r.when is not None and held[("tier", r.name)]]
    if len(matched) > 1:
        return REFUSED
    if matched:
        return matched[0].tier or ""
    fallback = next((r for r in checked.tiers if r.when is None), None)
    return (fallback.tier or "") if fallback else ""


def _own(checked: CheckedRuleset, account: dict[str, Any]) -> dict[str, Any]:
    """The witness's values for the inputs this version declares."""
    return {k: v for k, v in account.items() if k in checked.inputs}
