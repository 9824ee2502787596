"""Rule-file text → `RuleFile` AST, or a `RuleError` with every syntax error.

The file is cut into statements first: a statement starts at a line that is
not indented (or whose first word is a statement keyword), and continues on
indented lines. Each statement is parsed on its own, so one broken statement
costs one diagnostic and the rest of the file is still read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from engine.language import ast
from engine.language.diagnostics import Diagnostic, RuleError, did_you_mean
from engine.language.source import Source, Span

STATEMENT_KEYWORDS = (
    "ruleset", "version", "title", "policy", "input", "level",
    "let", "tier", "label", "otherwise", "example",
)  # fmt: skip
CONTINUATION_WORDS = frozenset(["given", "expect", "labels", "and", "or", "not"])
MAX_DEPTH = 100
_FIRST_WORD = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*|\S?)")
_MULTIPLIERS = {"k": 1000, "K": 1000, "M": 1_000_000, "B": 1_000_000_000}
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
        builder = _Builder(source, start)
        statement: ast.Statement = builder.transform(tree)
    except UnexpectedInput as error:
        return _syntax_diagnostic(source, start, text, error)
    except (RecursionError, VisitError) as error:
        if isinstance(error, VisitError) and isinstance(error.orig_exc, _BuildError):
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


# -------------------------------------------------------------- tree → AST


class _BuildError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def number_value(text: str) -> float:
    """`10k` → 10000, `1.5M` → 1500000, `3.5%` → 0.035; ints stay ints."""
    digits = text.replace("_", "")
    scale = Decimal(1)
    if digits[-1] == "%":
        digits, scale = digits[:-1], Decimal("0.01")
    elif digits[-1] in _MULTIPLIERS:
        digits, scale = digits[:-1], Decimal(_MULTIPLIERS[digits[-1]])
    try:
        value = Decimal(digits) * scale
    except InvalidOperation:  # pragma: no cover - the grammar admits only digits
        return 0
    if text.endswith("%") or value != value.to_integral_value():
        return float(value)
    return int(value)


def unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


_CANONICAL_OP = {"at least": ">=", "at most": "<=", "above": ">", "below": "<"}


@v_args(meta=True, inline=True)
class _Builder(Transformer[Token, Any]):
    """Builds AST nodes bottom-up; spans are shifted by the statement's offset."""

    def __init__(self, source: Source, base: int):
        super().__init__()
        self.source = source
        self.base = base

    def _span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return self.source.span(self.base, self.base)
        return self.source.span(self.base + meta.start_pos, self.base + meta.end_pos)

    def _tok(self, token: Token) -> Span:
        start = self.base + (token.start_pos or 0)
        return self.source.span(start, start + len(token))

    def _name(self, token: Token) -> ast.Name:
        return ast.Name(str(token), self._tok(token))

    def _fail(self, code: str, message: str, span: Span, hint: str | None = None) -> Any:
        raise _BuildError(Diagnostic(code, message, span, hint))

    # statements
    def ruleset_decl(self, meta: Meta, name: Token) -> ast.RulesetDecl:
        return ast.RulesetDecl(self._name(name), self._span(meta))

    def version_decl(self, meta: Meta, text: Token) -> ast.VersionDecl:
        return ast.VersionDecl(ast.Text(unquote(text), self._tok(text)), self._span(meta))

    def title_decl(self, meta: Meta, text: Token) -> ast.TitleDecl:
        return ast.TitleDecl(ast.Text(unquote(text), self._tok(text)), self._span(meta))

    def policy_decl(self, meta: Meta, policy: Token) -> ast.PolicyDecl:
        return ast.PolicyDecl(str(policy), self._span(meta))

    def type_name(self, meta: Meta, word: Token) -> ast.TypeName:
        return ast.TypeName(str(word))

    def set_type(self, meta: Meta, _text: Token) -> ast.TypeName:
        return ast.TypeName.TEXT_SET

    def optional_clause(self, meta: Meta, default: ast.Literal | None = None) -> tuple[Any, ...]:
        return ("optional", default)

    def input_decl(
        self, meta: Meta, name: Token, type_: ast.TypeName, optional: Any = None
    ) -> ast.InputDecl:
        default = optional[1] if optional else None
        return ast.InputDecl(
            self._name(name), type_, optional is not None, default, self._span(meta)
        )

    def level_decl(self, meta: Meta, name: Token, source: Token, *bands: ast.Band) -> ast.LevelDecl:
        return ast.LevelDecl(self._name(name), self._name(source), bands, self._span(meta))

    def band(self, meta: Meta, name: Token, bound: ast.Bound) -> ast.Band:
        return ast.Band(self._name(name), bound, self._span(meta))

    def band_otherwise(self, meta: Meta) -> ast.Bound:
        return ast.Bound("", "otherwise", span=self._span(meta))

    def let_decl(self, meta: Meta, name: Token, *rest: Any) -> ast.LetDecl:
        type_ = rest[0] if len(rest) == 2 else None
        return ast.LetDecl(self._name(name), type_, rest[-1], self._span(meta))

    def tier_rule(self, meta: Meta, name: Token, when: ast.Expr) -> ast.TierRule:
        return ast.TierRule(self._name(name), when, self._span(meta))

    def label_rule(self, meta: Meta, name: Token, when: ast.Expr) -> ast.LabelRule:
        return ast.LabelRule(self._name(name), when, self._span(meta))

    def otherwise_rule(self, meta: Meta, name: Token) -> ast.OtherwiseRule:
        return ast.OtherwiseRule(self._name(name), self._span(meta))

    def given(self, meta: Meta, name: Token, value: ast.Literal) -> ast.Given:
        return ast.Given(self._name(name), value, self._span(meta))

    def expect_labels(self, meta: Meta, *names: Token) -> tuple[ast.Name, ...]:
        if len(names) == 1 and names[0] == "none":
            return ()
        return tuple(self._name(n) for n in names)

    def example(self, meta: Meta, description: Token, *rest: Any) -> ast.Example:
        labels = rest[-1] if isinstance(rest[-1], tuple) else None
        items = rest[:-1] if labels is None else rest[:-2]
        expect = rest[-1] if labels is None else rest[-2]
        return ast.Example(
            ast.Text(unquote(description), self._tok(description)),
            tuple(items),
            self._name(expect),
            labels,
            self._span(meta),
        )

    # expressions
    def any_of(self, meta: Meta, *parts: ast.Expr) -> ast.Expr:
        return parts[0] if len(parts) == 1 else ast.AnyOf(parts, self._span(meta))

    def all_of(self, meta: Meta, *parts: ast.Expr) -> ast.Expr:
        return parts[0] if len(parts) == 1 else ast.AllOf(parts, self._span(meta))

    def negation(self, meta: Meta, part: ast.Expr) -> ast.Not:
        return ast.Not(part, self._span(meta))

    def bound_cmp(self, meta: Meta, op: Token, value: ast.Expr) -> ast.Bound:
        spelling = " ".join(str(op).split())
        return ast.Bound(
            _CANONICAL_OP.get(spelling, spelling), spelling, value, None, self._span(meta)
        )

    def bound_between(self, meta: Meta, low: ast.Expr, high: ast.Expr) -> ast.Bound:
        return ast.Bound("between", "between", low, high, self._span(meta))

    def bound_test(self, meta: Meta, value: ast.Expr, bound: ast.Bound) -> ast.Expr:
        assert bound.low is not None
        if bound.op == "between":
            assert bound.high is not None
            return ast.Between(value, bound.low, bound.high, self._span(meta))
        return ast.Compare(value, bound.op, bound.low, bound.spelling, self._span(meta))

    def in_set(self, meta: Meta, value: ast.Expr, items: ast.TextSet) -> ast.InSet:
        return ast.InSet(value, items, False, self._span(meta))

    def not_in_set(self, meta: Meta, value: ast.Expr, items: ast.TextSet) -> ast.InSet:
        return ast.InSet(value, items, True, self._span(meta))

    def has_test(self, meta: Meta, value: ast.Expr, mode: Token, items: ast.TextSet) -> ast.Has:
        return ast.Has(value, str(mode), items, self._span(meta))

    def has_one(self, meta: Meta, value: ast.Expr, item: Token) -> ast.Has:
        text = ast.Text(unquote(item), self._tok(item))
        return ast.Has(value, "one", ast.TextSet((text,), text.span), self._span(meta))

    def _level(self, meta: Meta, value: ast.Expr, band: Token, spelling: str) -> ast.LevelIs:
        if not isinstance(value, ast.Name):
            self._fail(
                "level-on-expression",
                f"only a level can be tested for a band such as '{band}'",
                self._span(meta),
                "define a `level` from this value and test that",
            )
        assert isinstance(value, ast.Name)
        return ast.LevelIs(
            value, self._name(band), spelling == "is not", spelling, self._span(meta)
        )

    def level_is(self, meta: Meta, value: ast.Expr, band: Token) -> ast.LevelIs:
        return self._level(meta, value, band, "is")

    def level_is_not(self, meta: Meta, value: ast.Expr, band: Token) -> ast.LevelIs:
        return self._level(meta, value, band, "is not")

    def level_bare(self, meta: Meta, value: ast.Expr, band: Token) -> ast.LevelIs:
        return self._level(meta, value, band, "")

    def text_is(self, meta: Meta, value: ast.Expr, text: Token) -> ast.TextIs:
        return ast.TextIs(value, ast.Text(unquote(text), self._tok(text)), self._span(meta))

    def arith(self, meta: Meta, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Arith:
        return ast.Arith(str(op), left, right, self._span(meta))

    def neg(self, meta: Meta, _minus: Token, operand: ast.Expr) -> ast.Expr:
        if isinstance(operand, ast.Number) and not operand.text.startswith("-"):
            return ast.Number(-operand.value, "-" + operand.text, self._span(meta))
        return ast.Neg(operand, self._span(meta))

    def negative_number(self, meta: Meta, _minus: Token, number: Token) -> ast.Number:
        return ast.Number(-number_value(number), "-" + str(number), self._span(meta))

    def name(self, meta: Meta, token: Token) -> ast.Name:
        return self._name(token)

    def number(self, meta: Meta, token: Token) -> ast.Number:
        return ast.Number(number_value(token), str(token), self._tok(token))

    def text(self, meta: Meta, token: Token) -> ast.Text:
        return ast.Text(unquote(token), self._tok(token))

    def flag(self, meta: Meta, token: Token) -> ast.Flag:
        return ast.Flag(str(token) == "true", self._tok(token))

    def text_set(self, meta: Meta, *items: Token) -> ast.TextSet:
        texts = tuple(ast.Text(unquote(t), self._tok(t)) for t in items)
        return ast.TextSet(texts, self._span(meta))
