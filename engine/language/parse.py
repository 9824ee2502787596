"""Rule-file text → `RuleFile` AST, or a `RuleError` with every syntax error.

The file is cut into statements first: a statement starts at a line that is
not indented (or whose first word is a statement keyword), and continues on
indented lines. Each statement is parsed on its own, so one broken statement
costs one diagnostic and the rest of the file is still read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from engine.language import ast
from engine.language.build import Builder, BuildError
from engine.language.diagnostics import Diagnostic, RuleError, did_you_mean
from engine.language.source import Source, Span

STATEMENT_KEYWORDS = (
    "ruleset", "version", "title", "policy", "input", "level",
    "let", "tier", "label", "otherwise", "example",
)  # fmt: skip
CONTINUATION_WORDS = frozenset(["given", "expect", "labels", "and", "or", "not"])
MAX_DEPTH = 100
_FIRST_WORD = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*|\S?)")
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted text ("…")',
    "$END": "the end of the statement",
}


@cache
def _parser() -> Lark:
    grammar = (
        resources.files("engine.language").joinpath("grammar.lark").read_text(encoding="utf-8")
    )
    return Lark(grammar, start="statement", parser="lalr", propagate_positions=True)


@cache
def keywords() -> frozenset[str]:
    """Every word of the language, for "did you mean" on misspelled keywords."""
    words = {"at least", "at most"}
    for term in _parser().terminals:
        value = term.pattern.value
        if term.pattern.type == "str" and value.isidentifier():
            words.add(value)
    return frozenset(words)


def parse(source: Source) -> ast.RuleFile:
    """Parse a whole file; raise `RuleError` with one diagnostic per broken statement."""
    statements: list[ast.Statement] = []
    diagnostics: list[Diagnostic] = []
    words: set[str] = set()
    for start, end in split_statements(source.text):
        result = parse_statement(source, start, end)
        if isinstance(result, Diagnostic):
            diagnostics.append(result)
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source.text[start:end]))
        else:
            statements.append(result)
    if diagnostics:
        partial = ast.RuleFile(tuple(statements))
        raise PartialParse(source, diagnostics, partial, frozenset(words))
    return ast.RuleFile(tuple(statements), tuple(comments(source)))


class PartialParse(RuleError):
    """Syntax errors, with the statements that did parse (so the checker can still run)."""

    def __init__(
        self,
        source: Source,
        diagnostics: list[Diagnostic],
        partial: ast.RuleFile,
        words: frozenset[str],
    ):
        super().__init__(source, diagnostics)
        self.partial = partial
        self.words = words  # every word of the statements that failed


def split_statements(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of each statement's text: a statement ends where the next begins."""
    start: int | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        match = _FIRST_WORD.match(line)
        word = match.group(1) if match else ""
        indented = line[:1] in (" ", "\t")
        begins = word in STATEMENT_KEYWORDS or (
            not indented and word not in ("", "#") and word not in CONTINUATION_WORDS
        )
        if begins:
            if start is not None:
                yield start, offset
            start = offset
        elif start is None and word not in ("", "#"):
            start = offset  # an indented first line: parse it to report it
        offset += len(line)
    if start is not None:
        yield start, offset


def comments(source: Source) -> Iterator[ast.Comment]:
    """Comments with their spans; `own_line` tells a leading comment from a trailing one."""
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)', source.text):
        if match.group(1) is None:
            continue
        start = match.start(1)
        line_start = source.text.rfind("\n", 0, start) + 1
        own_line = source.text[line_start:start].strip() == ""
        yield ast.Comment(
            match.group(1).rstrip(), source.span(start, match.end(1)), own_line=own_line
        )


def parse_statement(source: Source, start: int, end: int) -> ast.Statement | Diagnostic:
    text = source.text[start:end]
    try:
        tree = _parser().parse(text)
        builder = Builder(source, start)
        statement: ast.Statement = builder.transform(tree)
    except UnexpectedInput as error:
        return _syntax_diagnostic(source, start, text, error)
    except (RecursionError, VisitError) as error:
        if isinstance(error, VisitError) and isinstance(error.orig_exc, BuildError):
            return error.orig_exc.diagnostic
        return _too_deep(source, start, text)
    if _depth(statement) > MAX_DEPTH:
        return _too_deep(source, start, text)
    return statement


def _too_deep(source: Source, start: int, text: str) -> Diagnostic:
    width = len(text.split("\n", 1)[0])
    return Diagnostic(
        "too-deep",
        f"this statement is nested more than {MAX_DEPTH} levels deep",
        source.span(start, start + width),
        "split it with `let` definitions",
    )


def _depth(node: object) -> int:
    """Nesting depth of an AST, walked without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        for name in getattr(current, "__slots__", ()):
            child = getattr(current, name)
            children = child if isinstance(child, tuple) else (child,)
            stack.extend((c, depth + 1) for c in children if hasattr(c, "__slots__"))
    return deepest


# ---------------------------------------------------------------- syntax errors


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    for term in _parser().terminals:
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


def _syntax_diagnostic(source: Source, base: int, text: str, error: UnexpectedInput) -> Diagnostic:
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
