"""The rule language's syntax tree: frozen dataclasses, no behaviour.

Every node carries a span; equality ignores it, so that a formatted file
parses to an equal tree (OPA's Term.Equal and Cedar's Node do the same).
Spellings an author chose (`at least` or `>=`, `10k` or `10_000`) are kept,
so the formatter can keep them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from engine.language.source import NO_SPAN, Span


class TypeName(StrEnum):
    COUNT = "count"
    NUMBER = "number"
    PERCENT = "percent"
    TEXT = "text"
    FLAG = "flag"
    TEXT_SET = "set of text"


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Number:
    value: float  # exact for ints; percentages as fractions (3.5% is 0.035)
    text: str  # as written: "10k", "10_000", "3.5%"
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def is_percent(self) -> bool:
        return self.text.endswith("%")


@dataclass(frozen=True, slots=True)
class Text:
    value: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Flag:
    value: bool
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class TextSet:
    items: tuple[Text, ...]
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(item.value for item in self.items)


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    value: Expr
    op: str  # canonical: >= <= > < == !=
    bound: Expr
    spelling: str  # as written: "at least", ">=", ...
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Between:
    """`value between low and high`: inclusive at both ends."""

    value: Expr
    low: Expr
    high: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class InSet:
    value: Expr
    items: TextSet
    negated: bool
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Has:
    """`topics has any of {...}`, `has all of {...}`; `has "x"` is `has all of {"x"}`."""

    value: Expr
    mode: str  # "any" | "all" | "one"
    items: TextSet
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class LevelIs:
    """`engagement high`, `engagement is high`, `engagement is not high`."""

    value: Name
    band: Name
    negated: bool
    spelling: str  # "", "is", "is not"
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class TextIs:
    """`platform is "tiktok"`, `platform is not "tiktok"`."""

    value: Expr
    text: Text
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    part: Expr
    span: Span = field(default=NO_SPAN, compare=False)


Literal = Number | Text | Flag | TextSet
Test = Compare | Between | InSet | Has | LevelIs | TextIs
Expr = Name | Literal | Arith | Neg | Test | AllOf | AnyOf | Not


# ----------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class RulesetDecl:
    name: Name
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class VersionDecl:
    version: Text
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class TitleDecl:
    title: Text
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class PolicyDecl:
    policy: str  # "first" | "unique"
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class InputDecl:
    name: Name
    type: TypeName
    optional: bool = False
    default: Literal | None = None
    range: Bound | None = None  # `percent at most 100%`: the values an account may give
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Bound:
    """A band's test: `at least 3.5%`, `between 1% and 3%`, or `otherwise` (op "")."""

    op: str  # >= <= > < == != between, or "" for otherwise
    spelling: str
    low: Expr | None = None
    high: Expr | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Band:
    name: Name
    bound: Bound
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class LevelDecl:
    name: Name
    source: Name
    bands: tuple[Band, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class LetDecl:
    name: Name
    type: TypeName | None
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class TierRule:
    name: Name
    when: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class LabelRule:
    name: Name
    when: Expr
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class OtherwiseRule:
    """`otherwise NAME`; `otherwise none` gives no tier."""

    name: Name
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Given:
    name: Name
    value: Literal
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Example:
    description: Text
    given: tuple[Given, ...]
    expect: Name
    labels: tuple[Name, ...] | None = None  # None: labels not checked
    span: Span = field(default=NO_SPAN, compare=False)


Statement = (
    RulesetDecl
    | VersionDecl
    | TitleDecl
    | PolicyDecl
    | InputDecl
    | LevelDecl
    | LetDecl
    | TierRule
    | LabelRule
    | OtherwiseRule
    | Example
)


@dataclass(frozen=True, slots=True)
class Comment:
    text: str  # with its "#"
    span: Span = field(default=NO_SPAN, compare=False)
    own_line: bool = field(default=True, compare=False)


@dataclass(frozen=True, slots=True)
class RuleFile:
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
