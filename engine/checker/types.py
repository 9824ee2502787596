"""Types of expressions: what each name and operator yields, and what fits where.

Conditions and arithmetic share one grammar, so the checker is where
`followers and 5` or `platform at least 3` are caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, assert_never

from engine.checker.model import NUMERIC, Input
from engine.language import ast, codes
from engine.language.diagnostics import Diagnostic, did_you_mean
from engine.language.source import Span

T = ast.TypeName
_NAMES = {
    T.COUNT: "a count",
    T.NUMBER: "a number",
    T.PERCENT: "a percentage",
    T.TEXT: "text",
    T.FLAG: "a flag (true or false)",
    T.TEXT_SET: "a set of texts",
}


_FLIPPED = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}


@dataclass(frozen=True, slots=True)
class Bound:
    """`input op low` or `input between low and high`, as a rule writes it."""

    input: str
    op: str
    low: ast.Number
    high: ast.Number | None
    span: Span


class Report(Protocol):
    def __call__(self, diagnostic: Diagnostic) -> None: ...


def describe_type(type_: T) -> str:
    return _NAMES[type_]


def show_value(value: float, type_: T | None = None) -> str:
    """A number as a rule author writes it: 3.5%, 10,000, 0.25."""
    if type_ is T.PERCENT:
        return f"{_six_digits(value * 100)}%"
    if type(value) is int:
        return f"{value:,}" if abs(value) < 1e15 else _six_digits(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return _six_digits(value)


def _six_digits(value: float) -> str:
    """`.6g`, also for an int too large for a float (a count may be any size)."""
    try:
        return f"{value:.6g}"
    except OverflowError:
        return format(Decimal(value), ".6g")


def literal_type(number: ast.Number) -> T:
    if number.is_percent:
        return T.PERCENT
    return T.COUNT if isinstance(number.value, int) and number.value >= 0 else T.NUMBER


def arith_type(op: str, left: T, right: T) -> T:
    if op in "+-" and left == right:
        return left if (op == "+" or left is not T.COUNT) else T.NUMBER
    if op == "*" and left == right == T.COUNT:
        return T.COUNT
    return T.NUMBER


class ExprTyper:
    """Types expressions once, recording each node's type by its number (`ast.new_id`)."""

    def __init__(self, report: Report, maybe_declared: frozenset[str] = frozenset()):
        self.report = report
        self.maybe_declared = maybe_declared  # names in statements that failed to parse
        self.types: dict[ast.NodeId, T] = {}
        self.inputs: dict[str, Input] = {}
        self.let_types: dict[str, T] = {}
        self.levels: dict[str, ast.LevelDecl] = {}
        self.lets: dict[str, ast.LetDecl] = {}
        self._typing: set[str] = set()
        # Each comparison of an input with numbers written in the file, as `x op low`
        # (`x between low and high`): the checker holds them against the input's range.
        self.bounds: list[Bound] = []

    def bind(self, inputs: dict[str, Input], decls: dict[str, ast.LetDecl | ast.LevelDecl]) -> None:
        self.inputs = inputs
        self.levels = {n: d for n, d in decls.items() if isinstance(d, ast.LevelDecl)}
        self.lets = {n: d for n, d in decls.items() if isinstance(d, ast.LetDecl)}

    def set_let_type(self, name: str, type_: T) -> None:
        self.let_types[name] = type_

    def derived_names(self) -> set[str]:
        return set(self.levels) | set(self.lets)

    # ----------------------------------------------------------------- names

    def name_type(self, name: ast.Name, *, allow_level: bool = False) -> T | None:
        if name.name in self.inputs:
            return self.inputs[name.name].type
        if name.name in self.lets:
            if name.name in self._typing:  # a cycle: reported by the checker
                return None
            if name.name not in self.let_types:  # used before its type is known: type it now
                decl = self.lets[name.name]
                self._typing.add(name.name)
                found = self.type_of(decl.expr) if decl.type is None else decl.type
                self._typing.discard(name.name)
                self.let_types[name.name] = found or T.NUMBER
            return self.let_types[name.name]
        if name.name in self.levels:
            if not allow_level:
                bands = ", ".join(b.name.name for b in self.levels[name.name].bands)
                self.report(
                    codes.LEVEL_AS_VALUE.at(
                        name.span,
                        name=name.name,
                        bands=bands,
                        band=self.levels[name.name].bands[0].name.name,
                    )
                )
            return None
        if name.name in self.maybe_declared:
            return None
        known = set(self.inputs) | set(self.lets) | set(self.levels)
        hint = did_you_mean(name.name, known)
        if hint is None and not known:
            hint = codes.UNKNOWN_NAME.hint("declare-input")
        elif hint is None:
            hint = codes.UNKNOWN_NAME.hint("declare", name=name.name)
        self.report(codes.UNKNOWN_NAME.at(name.span, hint=hint, name=name.name))
        return None

    # ----------------------------------------------------------- expressions

    def condition(self, expr: ast.Expr) -> None:
        """A rule's `when`: must be true or false."""
        found = self.type_of(expr)
        if found is not None and found is not T.FLAG:
            self.report(codes.NOT_A_CONDITION.at(expr.span, type=describe_type(found)))

    def type_of(self, expr: ast.Expr) -> T | None:
        found = self._type(expr)
        if found is not None:
            self.types[expr.id] = found
        return found

    def _type(self, expr: ast.Expr) -> T | None:
        match expr:
            case ast.Name():
                return self.name_type(expr)
            case ast.Number():
                return literal_type(expr)
            case ast.Text():
                return T.TEXT
            case ast.Flag():
                return T.FLAG
            case ast.TextSet():
                return T.TEXT_SET
            case ast.Arith(op=op, left=left, right=right):
                lt, rt = self._numeric(left, op), self._numeric(right, op)
                return arith_type(op, lt, rt) if lt and rt else None
            case ast.Neg(operand=operand):
                found = self._numeric(operand, "-")
                return T.NUMBER if found is T.COUNT else found
            case ast.Compare():
                return self._compare(expr)
            case ast.Between(value=value, low=low, high=high):
                return self._between(value, low, high, expr.span)
            case ast.InSet(value=value):
                return self._expect(value, T.TEXT, "`in {…}` tests a text")
            case ast.Has(value=value):
                return self._expect(value, T.TEXT_SET, "`has` tests a set of texts")
            case ast.TextIs(value=value):
                return self._expect(value, T.TEXT, '`is "…"` tests a text')
            case ast.LevelIs():
                return self._level_is(expr)
            case ast.AllOf(parts=parts) | ast.AnyOf(parts=parts):
                ok = [self._boolean(p) for p in parts]
                return T.FLAG if all(ok) else None
            case ast.Not(part=part):
                return T.FLAG if self._boolean(part) else None
            case _:
                assert_never(expr)

    def _boolean(self, expr: ast.Expr) -> bool:
        found = self.type_of(expr)
        if found is not None and found is not T.FLAG:
            self.report(codes.NOT_A_CONDITION.at(expr.span, "combined", type=describe_type(found)))
            return False
        return found is not None

    def _numeric(self, expr: ast.Expr, op: str) -> T | None:
        found = self.type_of(expr)
        if found is not None and found not in NUMERIC:
            self.report(
                codes.TYPE_MISMATCH.at(expr.span, "arithmetic", op=op, found=describe_type(found))
            )
            return None
        return found

    def _expect(self, expr: ast.Expr, wanted: T, what: str) -> T | None:
        found = self.type_of(expr)
        if found is not None and found is not wanted:
            hint = None
            if found is T.TEXT_SET and wanted is T.TEXT:
                hint = codes.TYPE_MISMATCH.hint("set-for-text")
            elif found is T.TEXT and wanted is T.TEXT_SET:
                hint = codes.TYPE_MISMATCH.hint("text-for-set")
            self.report(
                codes.TYPE_MISMATCH.at(
                    expr.span, "test", hint=hint, what=what, found=describe_type(found)
                )
            )
            return None
        return T.FLAG if found is not None else None

    def _compare(self, expr: ast.Compare) -> T | None:
        bound = expr.bound
        if (
            isinstance(bound, ast.Name)
            and not self._known(bound.name)
            and expr.op in ("==", "!=")
            and self.type_of(expr.value) is T.TEXT  # `platform == tiktok`: a text, unquoted
        ):
            quoted = codes.UNKNOWN_NAME.hint("quote", name=bound.name)
            self.report(codes.UNKNOWN_NAME.at(bound.span, hint=quoted, name=bound.name))
            return None
        left, right = self.type_of(expr.value), self.type_of(bound)
        if left is None or right is None:
            return None
        if left in NUMERIC and right in NUMERIC:
            self._units(expr.value, left, expr.bound, right)
            value, bound = expr.value, expr.bound
            if isinstance(value, ast.Name) and isinstance(bound, ast.Number):
                self._bound(value, expr.op, bound, None, expr.span)
            elif isinstance(value, ast.Number) and isinstance(bound, ast.Name):
                self._bound(bound, _FLIPPED[expr.op], value, None, expr.span)
            return T.FLAG
        if left == right and left in (T.TEXT, T.FLAG) and expr.op in ("==", "!="):
            return T.FLAG
        if left == right and left in (T.TEXT, T.FLAG):
            hint = codes.TYPE_MISMATCH.hint("choice-of-texts") if left is T.TEXT else None
            self.report(
                codes.TYPE_MISMATCH.at(
                    expr.span, "equality-only", hint=hint, type=describe_type(left)
                )
            )
            return None
        self.report(
            codes.TYPE_MISMATCH.at(
                expr.span,
                "compare",
                hint=_mismatch_hint(left, right),
                left=describe_type(left),
                right=describe_type(right),
            )
        )
        return None

    def _between(self, value: ast.Expr, low: ast.Expr, high: ast.Expr, span: Span) -> T | None:
        types = [self.type_of(value), self.type_of(low), self.type_of(high)]
        if any(t is None for t in types):
            return None
        if not all(t in NUMERIC for t in types):
            odd = next(t for t in types if t not in NUMERIC)
            assert odd is not None
            self.report(codes.TYPE_MISMATCH.at(span, "between", type=describe_type(odd)))
            return None
        vt = types[0]
        assert vt is not None
        for bound, bt in ((low, types[1]), (high, types[2])):
            assert bt is not None
            self._units(value, vt, bound, bt)
        if isinstance(low, ast.Number) and isinstance(high, ast.Number) and low.value > high.value:
            self.report(codes.EMPTY_RANGE.at(span, low=low.text, high=high.text))
        elif all(isinstance(b, ast.Number) for b in (low, high)) and isinstance(value, ast.Name):
            assert isinstance(low, ast.Number) and isinstance(high, ast.Number)
            self._bound(value, "between", low, high, span)
        return T.FLAG

    def _bound(
        self, name: ast.Name, op: str, low: ast.Number, high: ast.Number | None, span: Span
    ) -> None:
        if name.name in self.inputs:
            self.bounds.append(Bound(name.name, op, low, high, span))

    def _units(self, a: ast.Expr, at: T, b: ast.Expr, bt: T) -> None:
        for value, vt, other in ((a, at, b), (b, bt, a)):
            if isinstance(other, ast.Number):
                name = value.name if isinstance(value, ast.Name) else "this value"
                self.check_literal_unit(other, vt, name)

    def check_literal_unit(self, number: ast.Number, against: T, name: str) -> None:
        """`engagement_rate at least 5` almost surely meant 5%; `followers above 5%` is odd."""
        if against is T.PERCENT and not number.is_percent and number.value != 0:
            shown = f"{number.value:g}%" if abs(number.value) > 1 else f"{number.value * 100:g}%"
            self.report(
                codes.PERCENT_WITHOUT_SIGN.at(
                    number.span, name=name, text=number.text, percent=shown
                )
            )
        elif against is T.COUNT and number.is_percent:
            self.report(
                codes.PERCENT_FOR_COUNT.at(
                    number.span, name=name, text=number.text, number=number.text.rstrip("%")
                )
            )

    def _known(self, name: str) -> bool:
        return (
            name in self.inputs
            or name in self.lets
            or name in self.levels
            or name in self.maybe_declared
        )

    def _level_is(self, expr: ast.LevelIs) -> T | None:
        name = expr.value.name
        if name not in self.levels:
            found = self.name_type(expr.value, allow_level=True)
            if found is not None:
                hint = did_you_mean(name, self.levels) or (
                    codes.NOT_A_LEVEL.hint("define", name=name) if found in NUMERIC else None
                )
                if found is T.TEXT:
                    hint = codes.NOT_A_LEVEL.hint("text", name=name, band=expr.band.name)
                self.report(
                    codes.NOT_A_LEVEL.at(expr.span, hint=hint, name=name, band=expr.band.name)
                )
            return None
        bands = [b.name.name for b in self.levels[name].bands]
        if expr.band.name not in bands:
            hint = did_you_mean(expr.band.name, bands) or codes.UNKNOWN_BAND.hint(
                "known", bands=", ".join(bands)
            )
            self.report(
                codes.UNKNOWN_BAND.at(expr.band.span, hint=hint, level=name, band=expr.band.name)
            )
            return None
        return T.FLAG


def _mismatch_hint(left: T, right: T) -> str | None:
    if T.TEXT in (left, right):
        return codes.TYPE_MISMATCH.hint("texts-with-texts")
    return None


ReportFn = Report
