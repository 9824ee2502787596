"""What the checker hands on: a rule file whose names resolve and whose types fit.

Later stages (analysis, compiler, reference interpreter) read only this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal as Lit

from engine.checker.intervals import Interval
from engine.language import ast
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source, Span

Value = int | float | str | bool | frozenset[str]
MAX_COUNT = 2**63 - 1  # as the gRPC API's int64; past it, arithmetic with floats overflows
NUMERIC = frozenset([ast.TypeName.COUNT, ast.TypeName.NUMBER, ast.TypeName.PERCENT])


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    type: ast.TypeName
    optional: bool
    default: Value | None
    span: Span
    # The values an account may give beyond what its type admits (a count 0 to 2^63-1, a
    # finite number): the declared range (`percent at most 1000%`); for a percent without
    # one 0% to 100% (DESIGN, "Input units"); None when the type's own check is all.
    range: Interval | None = None
    range_text: str = ""  # for messages: "at most 1000% (and 0% or more)", "from 0% to 100%"


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    type: ast.TypeName
    expr: ast.Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Band:
    name: str
    op: str  # >= <= > < == != between, "" for otherwise
    low: float | None
    high: float | None
    text: str  # as written, for reasons: "at least 3.5%"
    span: Span


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    source: str  # an input or a let
    bands: tuple[Band, ...]
    span: Span
    # the number of the `level` statement it comes from (`ast.new_id`): what it is known by
    id: ast.NodeId = field(default_factory=ast.new_id, compare=False, repr=False, kw_only=True)

    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)


@dataclass(frozen=True, slots=True)
class Rule:
    kind: Lit["tier", "label", "otherwise"]
    name: str  # "none" for `otherwise none`
    when: ast.Expr | None  # None for otherwise
    span: Span
    file: str
    # the number of the rule's statement (`ast.new_id`): what facts about the rule are kept by
    id: ast.NodeId = field(default_factory=ast.new_id, compare=False, repr=False, kw_only=True)

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def tier(self) -> str | None:
        """The tier this rule gives; `otherwise none` gives none."""
        return None if self.kind == "otherwise" and self.name == "none" else self.name


@dataclass(frozen=True, slots=True)
class Example:
    description: str
    given: dict[str, Value]
    expect: str | None
    labels: tuple[str, ...] | None
    span: Span


@dataclass(frozen=True)
class CheckedRuleset:
    source: Source
    name: str
    version: str
    title: str
    policy: Lit["first", "unique"]
    inputs: dict[str, Input]
    derived: tuple[Let | Level, ...]  # in dependency order
    tiers: tuple[Rule, ...]  # tier rules, then the otherwise rule if any
    labels: tuple[Rule, ...]
    examples: tuple[Example, ...]
    types: dict[ast.NodeId, ast.TypeName] = field(repr=False)  # node id -> its type
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def digest(self) -> str:
        return self.source.digest

    @property
    def levels(self) -> dict[str, Level]:
        return {d.name: d for d in self.derived if isinstance(d, Level)}

    def depending_on(self, names: Iterable[str]) -> frozenset[str]:
        """`names`, and every let and level computed from any of them (masking follows
        a value into whatever is made of it)."""
        found = set(names)
        for item in self.derived:  # in dependency order: one pass reaches every descendant
            reads = {item.source} if isinstance(item, Level) else names_in(item.expr)
            if reads & found:
                found.add(item.name)
        return frozenset(found)

    @property
    def lets(self) -> dict[str, Let]:
        return {d.name: d for d in self.derived if isinstance(d, Let)}

    def tier_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.tiers if r.tier is not None)


def names_in(expr: ast.Expr) -> set[str]:
    """Every value name an expression reads (inputs, lets, levels)."""
    return {name.name for name in ast.value_names(expr)}
