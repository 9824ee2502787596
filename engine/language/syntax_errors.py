"""Syntax errors in a rule author's words: what was expected, what was found, and a
hint that fixes it.

lark says which terminals it expected; that is turned into words ("expected a
number or a name; found the text "x""). The mistakes people make (keywords in
capitals, a decimal comma, `more than`, `≥`, …) are recognised before this, in
`mistakes.py`; what reaches here is an error no known habit explains.

Where the hint names a spelling (a misspelled keyword, 'single quotes'), the
diagnostic comes with the repair that applies it, so that `recover.py` can read
the rest of the statement for further errors. A repair is sure when the
author's intent is plain ('x' is the text "x"), and a guess otherwise (`low`
where a comparison was expected may be `below`, or a band name after a line
that lost its bound): a statement read with a guess is not handed to the
checker, whose findings would then be about the guess.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from engine.language import codes
from engine.language.diagnostics import Diagnostic, closest, did_you_mean
from engine.language.draft import Draft, Edit
from engine.language.grammar import STATEMENT_KEYWORDS, keywords, parser
from engine.language.source import Span


class Fix(NamedTuple):
    edits: tuple[Edit, ...]
    sure: bool  # the author's intent is plain; else a guess (see the module's doc)


Repair = Fix | None

_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted text ("…")',
    "$END": "the end of the statement",
    "<END-OF-FILE>": "the end of the statement",  # what lark's contextual lexer says
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


def syntax_diagnostic(draft: Draft, error: UnexpectedInput) -> tuple[Diagnostic, Repair]:
    """The diagnostic for lark's error in the draft, and the repair its hint names, if any."""
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(draft, error.pos_in_stream or 0)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    text = draft.text
    expected = {t for t in error.expected if not t.startswith("__")} or set(error.expected)
    if token.type == "$END":
        stripped = text.rstrip()
        pos = len(stripped)
        span = draft.span(pos - 1 if stripped else pos, pos)
        span = Span(span.start, span.end, span.line, span.col + (1 if stripped else 0))
    else:
        start = token.start_pos or 0
        span = draft.span(start, token.end_pos or start + 1)
    message = f"expected {_expected_words(expected)}; {_found(token)}"
    if {"TIER", "RULESET"} <= expected:
        message = f"expected a statement ({', '.join(STATEMENT_KEYWORDS)}); {_found(token)}"
    elif expected == {"NAME"} and token.type == "$END" and text.lstrip().startswith("level"):
        message = "a level needs bands, one per indented line, such as `  high at least 3.5%`"
    hint, repair = _keyword_hint(text, token, expected)
    if hint is None and token.type != "$END":
        previous = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[: token.start_pos])
        if previous and previous.group(1) not in keywords():
            word = closest(previous.group(1), keywords())
            if word:
                hint = f"did you mean '{word}'?"
                repair = Fix(((previous.start(1), previous.end(1), word),), sure=False)
                span = draft.span(previous.start(1), previous.end(1))
                message = f"'{previous.group(1)}' is not a word of the rule language here"
    if hint is None and span.line == 1 and token.type == "NAME" and span.col == 1:
        hint = "a statement starts with " + ", ".join(f"'{k}'" for k in STATEMENT_KEYWORDS)
    if hint is None and token.type == "NAME" and span.col == 1:
        hint = "indent a line that continues the statement above"
    return codes.SYNTAX.at(span, hint=hint, message=message), repair


def _keyword_hint(text: str, token: Token, expected: set[str]) -> tuple[str | None, Repair]:
    """For a name where a keyword was expected: the keyword meant (`betwen`, `at lest`)."""
    if token.type != "NAME":
        return None, None
    start, end = token.start_pos or 0, token.end_pos or 0
    previous_word = re.search(r"([A-Za-z_]+)\s+$", text[:start])
    two_words = f"{previous_word.group(1)} {token}" if previous_word else ""
    keyword_choices = [_describe(t).strip("'") for t in expected]
    hint = did_you_mean(str(token), keyword_choices)
    if hint is not None:
        word = closest(str(token), keyword_choices)  # a keyword, or "a name", "a number"
        is_keyword = word in keywords()
        return hint, Fix(((start, end, str(word)),), sure=False) if is_keyword else None
    word = closest(two_words, ["at least", "at most"]) if previous_word else None
    if word is not None and previous_word is not None:
        return f"did you mean '{word}'?", Fix(((previous_word.start(1), end, word),), sure=False)
    word = closest(str(token), keywords())
    if word is not None:
        return f"did you mean '{word}'?", Fix(((start, end, word),), sure=False)
    return None, None


def _unexpected_character(draft: Draft, pos: int) -> tuple[Diagnostic, Repair]:
    char = draft.text[pos : pos + 1]
    shown = repr(char) if not char.isprintable() else f"'{char}'"
    hint = None
    repair: Repair = None
    if char == "'":
        hint = codes.UNEXPECTED_CHARACTER.hint("quote", text="instagram")
        closing = re.match(r"([^'\"\n]*)'", draft.text[pos + 1 :])
        if closing:  # 'instagram' -> "instagram"
            hint = codes.UNEXPECTED_CHARACTER.hint("quote", text=closing.group(1))
            quotes = ((pos, pos + 1, '"'), (pos + closing.end(), pos + closing.end() + 1, '"'))
            repair = Fix(quotes, sure=True)
    elif char.isdigit():
        hint = codes.UNEXPECTED_CHARACTER.hint("digit")
    diagnostic = codes.UNEXPECTED_CHARACTER.at(draft.span(pos, pos + 1), hint=hint, shown=shown)
    return diagnostic, repair
