"""lark's parse tree of one statement → syntax-tree nodes (`ast.py`).

A `@v_args(meta=True)` Transformer run after parsing (lark gives no `meta`
to a transformer passed to `Lark(...)`): every node gets its span, shifted
from the statement's offsets to the file's, and its number as it is made
(`ast.new_id`), which later passes key what they learn about it by. Numbers are read here (`10k`,
`1.5M`, `3.5%`, `10_000`) and texts unquoted; the spelling an author chose
is kept beside the value so that the formatter can keep it.

A problem found while building (`10.000`, a number past a double, a level test
on an expression) is collected in `problems` and the build goes on, so that
every problem of a statement is reported at once. A number that cannot be read
becomes a name spelled as written (in `unreadable`): the checker takes such a
name for a value it cannot know, as it does a name from a statement that did
not parse, so the rest of the line is still checked and nothing that depends on
the number is reported. When the statement was repaired before parsing (`recover.py`),
`origin` maps offsets in the repaired text back to the text as written, so
that spans still point at what the author wrote.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from engine.language import ast, codes
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source, Span

MAX_NUMBER = sys.float_info.max
# groups of three after points, as German and Dutch write thousands: 10.000, 1.500.000
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3}){2,}|[1-9]\d{0,2}\.000")
_MULTIPLIERS = {"k": 1000, "K": 1000, "M": 1_000_000, "B": 1_000_000_000}


def number_problem(token: str, span: Span) -> Diagnostic | None:
    """Why a number token cannot be read as written (`10.000`, past 1.8e308), if it cannot."""
    if _THOUSANDS.fullmatch(token):  # `10.000`: ten thousand in much of Europe, 10 here
        whole = int(token.replace(".", ""))
        return codes.AMBIGUOUS_NUMBER.at(
            span,
            token=token,
            value=number_value(token),
            whole=whole,
            in_thousands=f" or {whole // 1000:_}k" if whole % 1000 == 0 else "",
        )
    if abs(number_value(token)) > MAX_NUMBER:  # accounts are compared as doubles
        shown = token if len(token) <= 16 else f"{token[:12]}… ({len(token)} digits)"
        return codes.NUMBER_TOO_LARGE.at(span, shown=shown)
    return None


def number_value(text: str) -> float:
    """`10k` → 10000, `1.5M` → 1500000, `3.5%` → 0.035; ints stay ints."""
    digits = text.replace("_", "")
    if len(digits) <= 18 and digits.isascii() and digits.isdigit():  # most: no Decimal needed
        return int(digits)  # (int() refuses over 4,300 digits; Decimal reads them)
    scale = Decimal(1)
    if digits[-1] == "%":
        digits, scale = digits[:-1], Decimal("0.01")
    elif digits[-1] in _MULTIPLIERS:
        digits, scale = digits[:-1], Decimal(_MULTIPLIERS[digits[-1]])
    try:
        with localcontext() as exact:  # not 28 digits, the default: every digit written counts
            exact.prec = len(digits) + 8
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
class Builder(Transformer[Token, Any]):
    """Builds AST nodes bottom-up; spans are shifted by the statement's offset."""

    def __init__(self, source: Source, base: int, origin: Callable[[int], int] | None = None):
        super().__init__()
        self.source = source
        self.base = base
        self.origin = origin or (lambda offset: offset)
        self.problems: list[Diagnostic] = []
        self.unreadable: set[str] = set()  # numbers built as names: see the module's doc

    def _at(self, start: int, end: int) -> Span:
        return self.source.span(self.base + self.origin(start), self.base + self.origin(end))

    def _span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return self._at(0, 0)
        return self._at(meta.start_pos, meta.end_pos)

    def _tok(self, token: Token) -> Span:
        start = token.start_pos or 0
        return self._at(start, start + len(token))

    def _name(self, token: Token) -> ast.Name:
        return ast.Name(str(token), self._tok(token))

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

    def input_decl(self, meta: Meta, name: Token, type_: ast.TypeName, *rest: Any) -> ast.InputDecl:
        allowed = next((r for r in rest if isinstance(r, ast.Bound)), None)
        optional = next((r for r in rest if isinstance(r, tuple)), None)
        default = optional[1] if optional else None
        return ast.InputDecl(
            self._name(name), type_, optional is not None, default, allowed, self._span(meta)
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
            self.problems.append(codes.LEVEL_ON_EXPRESSION.at(self._span(meta), band=str(band)))
            value = ast.Name("", self._span(meta))  # the statement is not used: see `problems`
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
        return ast.TextIs(value, ast.Text(unquote(text), self._tok(text)), False, self._span(meta))

    def text_is_not(self, meta: Meta, value: ast.Expr, text: Token) -> ast.TextIs:
        return ast.TextIs(value, ast.Text(unquote(text), self._tok(text)), True, self._span(meta))

    def arith(self, meta: Meta, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Arith:
        return ast.Arith(str(op), left, right, self._span(meta))

    def neg(self, meta: Meta, _minus: Token, operand: ast.Expr) -> ast.Expr:
        if isinstance(operand, ast.Number) and not operand.text.startswith("-"):
            return ast.Number(-operand.value, "-" + operand.text, self._span(meta))
        return ast.Neg(operand, self._span(meta))

    def negative_number(self, meta: Meta, _minus: Token, number: Token) -> ast.Number:
        span = self._span(meta)
        return ast.Number(-self._number_value(number, span), "-" + str(number), span)

    def name(self, meta: Meta, token: Token) -> ast.Name:
        return self._name(token)

    def number(self, meta: Meta, token: Token) -> ast.Number | ast.Name:
        span = self._tok(token)
        problem = number_problem(str(token), span)
        if problem is None:
            return ast.Number(number_value(token), str(token), span)
        self.problems.append(problem)
        self.unreadable.add(str(token))
        return ast.Name(str(token), span)

    def _number_value(self, token: Token, span: Span) -> float:
        problem = number_problem(str(token), span)
        if problem is not None:
            self.problems.append(problem)
        return number_value(token)

    def text(self, meta: Meta, token: Token) -> ast.Text:
        return ast.Text(unquote(token), self._tok(token))

    def flag(self, meta: Meta, token: Token) -> ast.Flag:
        return ast.Flag(str(token) == "true", self._tok(token))

    def text_set(self, meta: Meta, *items: Token) -> ast.TextSet:
        texts = tuple(ast.Text(unquote(t), self._tok(t)) for t in items)
        return ast.TextSet(texts, self._span(meta))
