"""The formatter: parse∘format is the identity on ASTs, and formatting is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from engine.language import ast
from engine.language.format import format_file, format_source
from engine.language.parse import parse
from engine.language.source import Source
from tests.conftest import RULES
from tests.strategies import rule_files

SHIPPED = sorted(RULES.glob("*.tiers"))


@settings(max_examples=300, deadline=None)
@given(rule_files())
def test_formatting_an_ast_parses_back_to_the_same_ast(tree: ast.RuleFile) -> None:
    text = format_file(tree, Source(""))
    assert parse(Source(text)) == tree


@settings(max_examples=200, deadline=None)
@given(rule_files())
def test_formatting_is_idempotent(tree: ast.RuleFile) -> None:
    once = format_file(tree, Source(""))
    assert format_source(Source(once)) == once


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_rules_are_formatted(path: Path) -> None:
    source = Source(path.read_text(encoding="utf-8"), str(path))
    assert format_source(source) == source.text


def test_comments_blank_lines_and_spellings_survive() -> None:
    text = (
        "# head\n"
        "ruleset r\n"
        "policy first # trailing\n"
        "\n\n\n"
        "input followers: count\n"
        "tier big   when followers >= 1_000_000\n"
        "tier small when followers at least 10k  # words kept\n"
        "otherwise none\n"
        "# tail\n"
    )
    assert format_source(Source(text)) == (
        "# head\n"
        "ruleset r\n"
        "policy first  # trailing\n"
        "\n"
        "input followers: count\n"
        "tier big   when followers >= 1_000_000\n"
        "tier small when followers at least 10k  # words kept\n"
        "otherwise none\n"
        "# tail\n"
    )


def test_long_conditions_break_before_each_and() -> None:
    wide = "tier micro when " + " and ".join(f"followers_{i} at least 1" for i in range(6))
    out = format_source(Source("input followers_0: count\n" + wide + "\n"))
    lines = out.splitlines()
    assert lines[1] == "tier micro when followers_0 at least 1"
    assert lines[2:] == [f"  and followers_{i} at least 1" for i in range(1, 6)]
    assert format_source(Source(out)) == out


def test_parentheses_are_kept_only_where_needed() -> None:
    src = "tier x when ((a > 1) and (b > 2 or c > 3)) or not (d > (4 + 5) * 6)\n"
    assert format_source(Source(src)) == (
        "tier x when a > 1 and (b > 2 or c > 3) or not d > (4 + 5) * 6\n"
    )


def test_windows_line_endings_tabs_and_a_comment_on_a_continued_line() -> None:
    text = (
        "ruleset crlf\r\ninput followers: count\r\ntier big when followers\r\n"
        "\tabove 10k # why 10k\r\notherwise small\r\n"
    )
    assert format_source(Source(text)) == (
        "ruleset crlf\ninput followers: count\ntier big when followers above 10k  # why 10k\n"
        "otherwise small\n"
    )
