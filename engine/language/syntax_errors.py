"""Syntax errors in a rule author's words: what was expected, what was found, and a
hint that fixes it.

lark says which terminals it expected; that is turned into words ("expected a
number or a name; found the text "x""). Before that, the statement is looked
at for the mistakes people make (`mistakes.py`): keywords in capitals, a
decimal comma, `more than`, `≥`, smart quotes, an unquoted version.
"""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from engine.language.diagnostics import Diagnostic, did_you_mean
from engine.language.grammar import STATEMENT_KEYWORDS, keywords, parser
from engine.language.mistakes import mistakes
from engine.language.source import Source, Span

_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted text ("…")',
    "$END": "the end of the statement",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    for term in parser().terminals:
        if term.name == terminal:
            if term.pattern.type == "str":
                return f"'{term.pattern.value}'"
            return f"'{terminal.lower().replace('_', ' ')}'"
    return terminal.lower()


def _expected_words(expected: set[str]) -> str:
    words = sorted({_describe(t) for t in expected}, key=lambda w: (not w.startswith("a"), w))
    if len(words) > 10:
        words = [*words[:10], "…"]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the statement ends here"
    if token.type == "NAME":
        return f"found the name '{token}'"
    if token.type == "NUMBER":
        return f"found the number {token}"
    if token.type == "STRING":
        return f"found the text {token}"
    return f"found '{token}'"


def syntax_diagnostic(source: Source, base: int, text: str, error: UnexpectedInput) -> Diagnostic:
    for start, end, what, fix in mistakes(text):  # what the author did, if we know it
        return Diagnostic("syntax", what, source.span(base + start, base + end), fix)
    if isinstance(error, UnexpectedCharacters):
        pos = base + (error.pos_in_stream or 0)
        char = source.text[pos : pos + 1]
        shown = repr(char) if not char.isprintable() else f"'{char}'"
        hint = None
        if char == "'":
            hint = 'texts are written in double quotes: "instagram"'
        elif char.isdigit():
            hint = "a number ends with at most one of k, M, B or %, then a space"
        return Diagnostic(
            "unexpected-character", f"unexpected character {shown}", source.span(pos, pos + 1), hint
        )
    assert isinstance(error, UnexpectedToken)
    token = error.token
    expected = {t for t in error.expected if not t.startswith("__")} or set(error.expected)
    if token.type == "$END":
        stripped = text.rstrip()
        pos = base + len(stripped)
        span = source.span(pos - 1 if stripped else pos, pos)
        span = Span(span.start, span.end, span.line, span.col + (1 if stripped else 0))
    else:
        start = token.start_pos or 0
        span = source.span(base + start, base + (token.end_pos or start + 1))
    message = f"expected {_expected_words(expected)}; {_found(token)}"
    if {"TIER", "RULESET"} <= expected:
        message = f"expected a statement ({', '.join(STATEMENT_KEYWORDS)}); {_found(token)}"
    elif expected == {"NAME"} and token.type == "$END" and text.lstrip().startswith("level"):
        message = "a level needs bands, one per indented line, such as `  high at least 3.5%`"
    hint = None
    if token.type == "NAME":
        previous_word = re.search(r"([A-Za-z_]+)\s+$", text[: token.start_pos])
        two_words = f"{previous_word.group(1)} {token}" if previous_word else ""
        keyword_choices = [_describe(t).strip("'") for t in expected]
        hint = (
            did_you_mean(str(token), keyword_choices)
            or (did_you_mean(two_words, ["at least", "at most"]) if two_words else None)
            or did_you_mean(str(token), keywords())
        )
    if hint is None and token.type != "$END":
        previous = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[: token.start_pos])
        if previous and previous.group(1) not in keywords():
            hint = did_you_mean(previous.group(1), keywords())
            if hint:
                start = base + previous.start(1)
                span = source.span(start, base + previous.end(1))
                message = f"'{previous.group(1)}' is not a word of the rule language here"
    if hint is None and span.line == 1 and token.type == "NAME" and span.col == 1:
        hint = "a statement starts with " + ", ".join(f"'{k}'" for k in STATEMENT_KEYWORDS)
    if hint is None and token.type == "NAME" and span.col == 1:
        hint = "indent a line that continues the statement above"
    return Diagnostic("syntax", message, span, hint)
