"""The compiled evaluator agrees with the reference interpreter: tier, labels, reasons."""

from __future__ import annotations

import bisect
import math
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ClassifyError, RuleConflict, RuleError, load_ruleset
from engine.analysis.analyze import analyze, boxable
from engine.language.source import Source
from engine.load import check_source
from engine.python import codegen, index
from engine.python.interpret import Outcome, interpret
from engine.ruleset import Ruleset
from tests.conftest import RULES
from tests.typed_rules import accounts, banded_rulesets, rulesets

SHIPPED = {p.stem: load_ruleset(p) for p in sorted(RULES.glob("*.tiers"))}


def compiled_outcome(ruleset: Ruleset, account: dict[str, Any]) -> Outcome | str:
    try:
        d = ruleset.classify(account)
    except ClassifyError as error:
        return f"{type(error).__name__}: {error}"
    return Outcome(
        d.tier,
        d.rule.name if d.rule else None,
        d.labels,
        tuple((r.rule, r.text, r.result, tuple(r.observed.items())) for r in d.reasons),
        d.notes,
    )


def reference_outcome(ruleset: Ruleset, account: dict[str, Any]) -> Outcome | str:
    try:
        return interpret(ruleset.checked, account)
    except ClassifyError as error:
        return f"{type(error).__name__}: {error}"


def shipped_accounts() -> st.SearchStrategy[dict[str, Any]]:
    boundary = [
        0,
        499,
        500,
        999,
        1000,
        5000,
        5001,
        9999,
        10_000,
        49_999,
        50_000,
        99_999,
        100_000,
        200_000,
        200_001,
        499_999,
        500_000,
        999_999,
        1_000_000,
        1_000_001,
    ]
    return st.fixed_dictionaries(
        {
            "followers": st.one_of(st.sampled_from(boundary), st.integers(0, 10**9)),
            "engagement_rate": st.one_of(
                st.sampled_from([0.0, 0.0099, 0.01, 0.0349, 0.035, 0.2]), st.floats(0, 1)
            ),
            "topics": st.lists(st.sampled_from(["fashion", "tech", "gaming", "food", "crypto"])),
            "platform": st.sampled_from(["instagram", "tiktok", "youtube"]),
        },
        optional={"fake_follower_ratio": st.floats(0, 1)},
    )


@pytest.mark.parametrize("name", sorted(SHIPPED))
@settings(max_examples=150, deadline=None)
@given(account=shipped_accounts())
def test_shipped_rulesets_agree(name: str, account: dict[str, Any]) -> None:
    ruleset = SHIPPED[name]
    assert compiled_outcome(ruleset, account) == reference_outcome(ruleset, account)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets(), data=st.data())
def test_generated_rulesets_agree(text: str, data: st.DataObject) -> None:
    ruleset = Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))
    for _ in range(5):
        account = data.draw(accounts())
        assert compiled_outcome(ruleset, account) == reference_outcome(ruleset, account)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets(), data=st.data())
def test_generated_rulesets_agree_when_run_is_cut_into_pieces(
    text: str, data: st.DataObject
) -> None:
    """Big rulesets' tiers run in functions of `CHUNK` tiers (both policies); cut
    after every second tier here, so that every ruleset crosses pieces."""
    with patch.object(codegen, "CHUNK", 2):
        ruleset = Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))
    if len([r for r in ruleset.checked.tiers if r.when is not None]) > 2:
        assert "def c0(" in ruleset.program.source_code
    for _ in range(5):
        account = data.draw(accounts())
        assert compiled_outcome(ruleset, account) == reference_outcome(ruleset, account)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=banded_rulesets(policies=("first",)), data=st.data())
def test_the_range_index_gives_the_first_match(text: str, data: st.DataObject) -> None:
    """Where tiers cut an input into ranges, `run` tries only the tiers whose range
    holds the account's value (engine/python/index.py): built here from 9 tiers on,
    it must decide as the reference interpreter does, on every bound."""
    with patch.object(index, "MIN_TIERS", 9):
        ruleset = Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))
        built = index.range_index(ruleset.checked) is not None
    assert built == ("def p0(" in ruleset.program.source_code)
    bounds = [0, 1, 999, 1000, 1001, 9999, 10_000, 12_999, 13_000, 13_999, 100_000, 10**6]
    for _ in range(10):
        account = data.draw(accounts())
        account["followers"] = data.draw(
            st.one_of(st.sampled_from(bounds), st.just(account["followers"]))
        )
        assert compiled_outcome(ruleset, account) == reference_outcome(ruleset, account)


def test_the_range_index_is_built_for_bands() -> None:
    lines = ["ruleset bands", "input followers: count", "input platform: text"]
    lines += [
        f'tier t{n} when followers between {n * 100} and {n * 100 + 99} and platform == "p{n % 3}"'
        for n in range(200)
    ]
    ruleset = load_ruleset(text="\n".join([*lines, "otherwise rest", ""]))
    built = index.range_index(ruleset.checked)
    assert built is not None and built.input == "followers"
    assert max(len(region) for region in built.regions) == 1
    assert ruleset.classify({"followers": 19_950, "platform": "p1"}).tier == "t199"
    assert ruleset.classify({"followers": 19_950, "platform": "p2"}).tier == "rest"
    assert ruleset.classify({"followers": 20_000, "platform": "p1"}).tier == "rest"


@settings(max_examples=100, deadline=None)
@given(account=shipped_accounts())
def test_exactly_one_tier_when_the_set_ends_in_otherwise(account: dict[str, Any]) -> None:
    ruleset = load_ruleset(
        text=(RULES / "fda.tiers").read_text().replace("otherwise none", "otherwise unknown")
    )
    matched = [
        r for r in ruleset.checked.tiers if r.when is not None and _holds(ruleset, r.name, account)
    ]
    decision = ruleset.classify(account)
    assert len(matched) <= 1
    assert decision.tier == (matched[0].name if matched else "unknown")


def _holds(ruleset: Ruleset, rule: str, account: dict[str, Any]) -> bool:
    steps = [r for r in interpret(ruleset.checked, account).reasons if r[0] == rule]
    return bool(steps) and all(step[2] for step in steps)


def test_boundaries_of_the_card() -> None:
    synthesis = SHIPPED["synthesis"]
    base = {"engagement_rate": 0.035, "topics": [], "platform": "instagram"}
    assert synthesis.classify({**base, "followers": 10_000}).tier == "micro"
    assert synthesis.classify({**base, "followers": 1_000_000}).tier == "mega"
    assert SHIPPED["fda"].classify({"followers": 1_000_000}).tier == "macro"
    assert SHIPPED["boerman"].classify({"followers": 10_000}).tier == "meso"


def test_shipped_rules_live_where_expected() -> None:
    assert Path(SHIPPED["fda"].path).name == "fda.tiers"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets(), data=st.data())
def test_the_overlap_analysis_misses_no_overlap_it_can_read(text: str, data: st.DataObject) -> None:
    """When the analysis finds no overlap, a run-time conflict can only involve a
    rule it could not read (sets, arithmetic, lets): never two it analysed."""
    checked = check_source(Source(text, "generated.tiers"), analyse=False)
    found = [d for d in analyze(checked) if d.code == "overlapping-tiers"]
    if found:
        assert checked.policy == "unique"
        with pytest.raises(RuleError, match="policy unique forbids"):
            load_ruleset(text=text, name="generated")
        return
    ruleset = Ruleset(checked)
    for _ in range(10):
        try:
            ruleset.classify(data.draw(accounts()))
        except RuleConflict as conflict:
            rules = {r.name: r for r in checked.tiers}
            assert not all(boxable(rules[name], checked) for name, _line in conflict.rules)


def test_an_overlap_is_refused_with_a_witness() -> None:
    text = (RULES / "fda.tiers").read_text().replace("followers below 50k", "followers at most 50k")
    with pytest.raises(RuleError) as caught:
        load_ruleset(text=text, name="fda")
    [diag] = caught.value.errors
    assert diag.code == "overlapping-tiers"
    assert "tiers 'micro' (line 14) and 'mid' both match" in diag.message
    assert "for example followers 50,000" in diag.message


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_five_thousand_tiers_compile_flat_and_agree_with_the_reference() -> None:
    """A generated ruleset of 5,000 tiers (one a country x band, as teams generate them):
    it compiles (an elif chain of that length overflowed the compiler), and decides as the
    reference interpreter does at the first, middle and last rules and between them."""
    lines = ["ruleset generated", "input followers: count", "input country: text"]
    for n in range(5000):
        lines.append(
            f"tier t{n} when followers between {n * 1000} and {n * 1000 + 999}"
            f' and country == "c{n % 7}"'
        )
    lines.append("otherwise rest")
    ruleset = Ruleset(
        check_source(Source("\n".join(lines) + "\n", "generated.tiers"), analyse=False)
    )
    for n in (0, 1, 2499, 4998, 4999):
        for followers in (n * 1000, n * 1000 + 999, n * 1000 + 1000):
            for country in (f"c{n % 7}", "elsewhere"):
                account = {"followers": followers, "country": country}
                assert compiled_outcome(ruleset, account) == reference_outcome(ruleset, account)
    assert ruleset.classify({"followers": 4_999_500, "country": "c1"}).tier == "t4999"


def _region(bounds: tuple[float, ...], value: float) -> int:
    """A value's region as RangeIndex's docstring defines it."""
    i = bisect.bisect_left(bounds, value)
    return 2 * i + 1 if i < len(bounds) and bounds[i] == value else 2 * i


@settings(max_examples=300, deadline=None)
@given(
    whole=st.booleans(),
    raw=st.lists(
        st.one_of(
            st.integers(-(2**64), 2**64),
            st.sampled_from([0, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1]),
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.5, -0.0, 2.0**53, 1e300, 0.035]),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_one_search_over_the_cuts_finds_the_region(whole: bool, raw: list[float]) -> None:
    """`cuts` puts every value in the region of the two-step search, at and beside
    each bound: whole numbers for a count, floats and whole numbers otherwise."""
    bounds = tuple(sorted(set(raw)))
    built = index.RangeIndex("x", bounds, (), whole)
    if built.cuts is None:
        return
    values: list[float] = []
    for b in bounds:
        if whole:
            if float(b).is_integer():
                values += [int(b) - 1, int(b), int(b) + 1]
        else:
            values += [b, math.nextafter(b, -math.inf), math.nextafter(b, math.inf)]
            if float(b).is_integer():
                values += [int(b) - 1, int(b), int(b) + 1]
    for value in values:
        assert bisect.bisect_right(built.cuts, value) == _region(bounds, value), (bounds, value)
