"""The generated reasons, notes and input say exactly what the traced run says."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.decision import Reason
from engine.python.codegen import division_notes
from engine.python.values import json_value
from tests.test_differential import SHIPPED, shipped_accounts
from tests.typed_rules import accounts, generated_decision, rulesets


def traced(decision: Any) -> tuple[list[Reason], tuple[str, ...], dict[str, Any]]:
    """The reference: every step of the traced run, its leaf looked up, its values read."""
    program = decision.ruleset.program
    steps, env, notes = decision.steps()
    reasons = []
    for leaf_id, result in steps:
        leaf = program.leaves[leaf_id]
        observed = {n: sorted(set(env[n])) if n in leaf.sets else env[n] for n in leaf.names}
        gap = None if result else leaf.shortfall(env)
        reasons.append(Reason(leaf.rule.name, leaf.rule.kind, leaf.text, observed, result, gap))
    inputs = {n: json_value(env[n]) for n in program.checked.inputs}
    return reasons, division_notes(program.divisions, notes), inputs


def assert_same_as_traced(decision: Any) -> None:
    reasons, notes, inputs = traced(decision)
    assert [r.to_dict() for r in decision.reasons] == [r.to_dict() for r in reasons]
    assert [type(r.result) for r in decision.reasons] == [type(r.result) for r in reasons]
    assert (decision.notes, decision.input) == (notes, inputs)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(SHIPPED)), account=shipped_accounts())
def test_shipped_rulesets_give_the_traced_reasons(name: str, account: dict[str, Any]) -> None:
    assert_same_as_traced(SHIPPED[name].classify(account))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets(), data=st.data())
def test_generated_rulesets_give_the_traced_reasons(text: str, data: st.DataObject) -> None:
    """Lets (division by zero too), levels, sets, flags, both policies, and/or/not."""
    decision = generated_decision(text, data.draw(accounts()))
    if decision is not None:
        assert_same_as_traced(decision)
