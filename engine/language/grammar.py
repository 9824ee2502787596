"""The grammar (`grammar.lark`) as a parser, and the words it makes keywords.

One LALR parser for one statement at a time (`parse.py` cuts the file into
statements); built once, on first use.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from lark import Lark

STATEMENT_KEYWORDS = (
    "ruleset", "version", "title", "policy", "input", "level",
    "let", "tier", "label", "otherwise", "example",
)  # fmt: skip
CONTINUATION_WORDS = frozenset(["given", "expect", "labels", "and", "or", "not"])


@cache
def parser() -> Lark:
    grammar = (
        resources.files("engine.language").joinpath("grammar.lark").read_text(encoding="utf-8")
    )
    return Lark(grammar, start="statement", parser="lalr", propagate_positions=True)


@cache
def keywords() -> frozenset[str]:
    """Every word of the language, for "did you mean" on misspelled keywords."""
    words = {"at least", "at most"}
    for term in parser().terminals:
        value = term.pattern.value
        if term.pattern.type == "str" and value.isidentifier():
            words.add(value)
    return frozenset(words)
