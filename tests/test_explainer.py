"""The generated explainer says exactly what the traced reference renderer says."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import InputError, load_ruleset
from engine.language.ast import TypeName
from engine.python.leaves import _distance, _short_of
from tests.conftest import RULES
from tests.test_differential import SHIPPED, shipped_accounts
from tests.traced_explain import explain_traced
from tests.typed_rules import accounts, generated_decision, rulesets

SYNTHESIS = load_ruleset(RULES / "synthesis.tiers")


def assert_same_text(decision: Any) -> str:
    text = decision.explain()
    assert text == explain_traced(decision)
    return text


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(SHIPPED)), account=shipped_accounts())
def test_shipped_rulesets_explain_as_the_reference_does(name: str, account: dict[str, Any]) -> None:
    assert_same_text(SHIPPED[name].classify(account))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets(), data=st.data())
def test_generated_rulesets_explain_as_the_reference_does(text: str, data: st.DataObject) -> None:
    """Lets (division by zero too), levels, sets, flags, both policies, and/or/not."""
    decision = generated_decision(text, data.draw(accounts()))
    if decision is not None:
        assert_same_text(decision)


def test_odd_values_are_explained_as_the_reference_does() -> None:
    """Coerced values, unknown fields, the largest count, and gaps past 1e15 (written
    in exponent form) or past a float's range (a let can outgrow one)."""
    for account in (
        {"followers": 2**63 - 1, "engagement_rate": 0.05, "topics": [], "platform": "x"},
        {"followers": 45000.0, "engagement_rate": 1, "topics": ("a", "a"), "platform": "x"},
        {"followers": 5, "engagement_rate": 0.0, "topics": [], "platform": "x", "zz": 1},
    ):
        assert_same_text(SYNTHESIS.classify(account))
    small = load_ruleset(
        text="input followers: count\nlet big = followers * followers * followers * followers\n"
        "tier small when followers at most 10\ntier huge when big at most 20000\notherwise large\n",
        name="small",
    )
    text = assert_same_text(small.classify({"followers": 10**15 + 10}))
    assert "has followers 1,000,000,000,000,010: 1e+15 over" in text
    assert "has big 1,000,000,000,000,040,000," in text and ": 1e+60 over" in text
    assert "999,999,999,999,999 over" in small.classify({"followers": 10**15 + 9}).explain()
    text = assert_same_text(small.classify({"followers": 2**63 - 1}))
    assert "9.22337e+18 over" in text and "7.23701e+75 over" in text


def test_counts_past_64_bits_are_refused_not_crashed_on() -> None:
    with pytest.raises(InputError, match="no larger than 9,223,372,036,854,775,807"):
        SYNTHESIS.classify(
            {"followers": 10**400, "engagement_rate": 0.05, "topics": [], "platform": "x"}
        )
    with pytest.raises(InputError, match="engagement_rate: expected a percentage"):
        SYNTHESIS.classify(
            {"followers": 1, "engagement_rate": 10**400, "topics": [], "platform": "x"}
        )


def test_the_explanation_says_why_and_by_how_much() -> None:
    account = {"followers": 99_226, "engagement_rate": 0.0172, "topics": [], "platform": "x"}
    assert assert_same_text(SYNTHESIS.classify(account)).splitlines()[1:] == [
        "tiers tried:",
        "  ✗ mega (line 20) needs followers at least 1M; has followers 99,226: 900,774 short",
        "  ✗ macro (line 21) needs followers between 100k and 1M; has followers 99,226: 774 short",
        "  ✗ micro (line 22) needs engagement high; has engagement medium, "
        "engagement_rate 1.72%: 1.78% short",
        "  ✗ nano (line 23) needs followers between 1k and 10k; has followers 99,226: 89,226 over",
        "labels: none",
    ]


BOUNDS = st.one_of(
    st.integers(0, 10**6), st.sampled_from([0.5, 1e15, 10**16, 0.035]), st.floats(0, 1)
)
VALUES = st.one_of(
    st.integers(-(10**3), 10**6),
    st.sampled_from([10**15, 10**16 + 1, 10**30, 0.0, 1.0, True]),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(
    op=st.sampled_from([">=", ">", "<=", "<", "==", "between"]),
    low=BOUNDS,
    high=BOUNDS,
    type_=st.sampled_from([TypeName.COUNT, TypeName.PERCENT, TypeName.NUMBER, None]),
    value=VALUES,
)
def test_the_inlined_gaps_say_what_the_general_one_says(
    op: str, low: float, high: float, type_: TypeName | None, value: Any
) -> None:
    spec = ("x", op, min(low, high), max(low, high) if op == "between" else None, type_)
    try:
        expected: Any = _distance(value, *spec[1:])
    except OverflowError as error:  # a float past 1e308: the same error from both
        expected = type(error)
    try:
        got: Any = _short_of(spec)(value)
    except OverflowError as error:
        got = type(error)
    assert got == expected
