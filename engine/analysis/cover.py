"""Accounts that reach a tier or a label: for the tiers and labels no example reaches,
an account to write an example with (`tierline check --suggest-examples`).

For a tier under its policy, the account must get that tier (not only match its
condition); for a label, hold it. Each account is replayed through the evaluator
(`replay`) before it is returned.
"""

from __future__ import annotations

from typing import Any

import z3

from engine.analysis.changes import outcome
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
