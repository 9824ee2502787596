"""The grammar accepts the language of DESIGN.md as written; the AST is what it says."""

from __future__ import annotations

import pytest

from engine.language import ast
from engine.language.build import number_value
from engine.language.diagnostics import RuleError
from engine.language.format import expr_text
from engine.language.parse import parse
from engine.language.source import Source
from engine.load import check_source

DESIGN_EXAMPLE = """\
# rules/synthesis.tiers
ruleset synthesis
version "2026-11-25"
title "Micro-influencers: the mean of agency definitions, 10k to 100k followers"
policy first                      # first matching tier wins, top to bottom

input followers: count
input engagement_rate: percent    # a fraction in the API: 0.042 is 4.2%
input topics: set of text
input platform: text
input fake_follower_ratio: percent optional default 0%

level engagement from engagement_rate
  high   at least 3.5%
  medium at least 1%
  low    otherwise

tier mega  when followers at least 1M
tier macro when followers between 100k and 1M
tier micro when followers between 10000 and 100000 and engagement high
tier nano  when followers between 1k and 10k
otherwise none

example "fashion blogger with a close community"
  given followers 45k, engagement_rate 4.2%, topics {"fashion"}, platform "instagram"
  expect micro
"""


def condition(text: str) -> ast.Expr:
    [stmt] = parse(Source(f"tier t when {text}\n")).statements
    assert isinstance(stmt, ast.TierRule)
    return stmt.when


def test_the_design_example_checks_clean() -> None:
    checked = check_source(Source(DESIGN_EXAMPLE, "synthesis.tiers"))
    assert checked.name == "synthesis"
    assert checked.version == "2026-11-25"
    assert checked.tier_names() == ("mega", "macro", "micro", "nano")
    assert checked.inputs["fake_follower_ratio"].default == 0.0
    assert checked.levels["engagement"].band_names() == ("high", "medium", "low")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10000", 10000),
        ("10_000", 10000),
        ("10k", 10000),
        ("1.5k", 1500),
        ("1M", 1_000_000),
        ("2.5M", 2_500_000),
        ("1B", 1_000_000_000),
        ("3.5%", 0.035),
        ("100%", 1.0),
        ("0.25", 0.25),
    ],
)
def test_numbers(text: str, value: float) -> None:
    assert number_value(text) == value
    assert isinstance(number_value(text), type(value))


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        # (as written, the AST printed back in canonical form)
        (
            "followers between 10000 and 100000 and engagement high",
            "followers between 10000 and 100000 and engagement high",
        ),
        ("followers >= 1M or followers at most 5", "followers >= 1M or followers at most 5"),
        ("a > 1 and b > 2 or c > 3", "a > 1 and b > 2 or c > 3"),
        ("a > 1 and (b > 2 or c > 3)", "a > 1 and (b > 2 or c > 3)"),
        ("not not verified", "not not verified"),
        ("engagement is high", "engagement is high"),
        ("engagement is not low", "engagement is not low"),
        ('topics has any of {"fashion", "tech"}', 'topics has any of {"fashion", "tech"}'),
        ('topics has all of {"a",}', 'topics has all of {"a"}'),
        ('topics has "a"', 'topics has "a"'),
        ('platform in {"instagram", "tiktok"}', 'platform in {"instagram", "tiktok"}'),
        ("platform not in {}", "platform not in {}"),
        ('platform == "x\\"y"', 'platform == "x\\"y"'),
        ('platform is "instagram"', 'platform is "instagram"'),
        (
            "(avg_likes + avg_comments) / followers above 3.5%",
            "(avg_likes + avg_comments) / followers above 3.5%",
        ),
        ("a - (b - c) < -5", "a - (b - c) < -5"),
        ("-a * 2 != 0", "-a * 2 != 0"),
        ("x\n  and y", "x and y"),
    ],
)
def test_conditions_print_back(text: str, printed: str) -> None:
    assert expr_text(condition(text)) == printed


def test_between_keeps_its_own_and() -> None:
    when = condition("followers between 1 and 2 and verified")
    assert isinstance(when, ast.AllOf)
    assert isinstance(when.parts[0], ast.Between)
    assert when.parts[1] == ast.Name("verified")


def test_words_and_symbols_mean_the_same_comparison() -> None:
    for word, symbol in [("at least", ">="), ("at most", "<="), ("above", ">"), ("below", "<")]:
        written = condition(f"x {word} 5")
        assert isinstance(written, ast.Compare)
        assert written.op == symbol and written.spelling == word


def test_spans_point_at_the_source() -> None:
    source = Source("tier micro when followers at least 10k\n")
    [stmt] = parse(source).statements
    assert isinstance(stmt, ast.TierRule)
    assert source.text_of(stmt.when.span) == "followers at least 10k"
    assert (stmt.when.span.line, stmt.when.span.col) == (1, 17)


def test_spans_do_not_affect_equality() -> None:
    assert condition("a > 1") == condition("a   >   1")


def test_labels_none_means_no_label() -> None:
    src = 'tier a when x > 1\nexample "e"\n  given x 2\n  expect a labels none\n'
    example = parse(Source(src)).statements[1]
    assert isinstance(example, ast.Example) and example.labels == ()


def test_a_level_test_on_an_expression_is_an_error() -> None:
    with pytest.raises(RuleError, match="only a level can be tested"):
        parse(Source("tier a when (x + 1) high\n"))


def test_a_number_of_thousands_of_digits_is_too_large_not_too_deep() -> None:
    """Python's int() refuses to read more than 4,300 digits; the builder's fast path
    for whole numbers must leave those to Decimal, or the statement is reported as
    nested too deep (the builder's failure) instead of its number as too large."""
    text = f"ruleset big\ninput followers: count\ntier a when followers at least {'9' * 5000}\n"
    with pytest.raises(RuleError) as raised:
        check_source(Source(text + "otherwise none\n", "big.tiers"))
    assert [d.code for d in raised.value.diagnostics] == ["number-too-large"]
