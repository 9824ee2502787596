"""Accounts that reach a tier or a label: for the tiers and labels no example reaches,
an account to write an example with (`tierline check --suggest-examples`).

For a tier under its policy, the account must get that tier (not only match its
condition); for a label, have it. Each account is decided by the evaluator
(`decide`, from the caller, as for `changes.py`) before it is returned.
"""

from __future__ import annotations

from typing import Any

import z3

from engine.analysis.changes import REFUSED, Decide
from engine.analysis.prove import TRIES
from engine.analysis.smt import Encoding, Inputs, Solver
from engine.checker.model import CheckedRuleset


def reaching(
    checked: CheckedRuleset,
    decide: Decide,
    tier: str | None = None,
    label: str | None = None,
    budget_ms: int = 1_000,
) -> dict[str, Any] | None:
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
        got = decide(account)
        if got is None or got[0] == REFUSED:
            return False
        return got[0] == (tier or "") if label is None else label in got[1]

    return solver.confirmed(facts, gets, TRIES)[1]
