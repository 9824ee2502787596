"""The rule language's syntax tree: frozen dataclasses, no behaviour.

Every node carries a span; equality ignores it, so that a formatted file
parses to an equal tree (OPA's Term.Equal and Cedar's Node do the same).
Every node also carries a number (`id`, see `new_id`), which equality ignores
too: the passes key what they learn about a node by it. `children` and `walk`
are the one walker every pass uses (OPA's `ast.Walk`, Cedar's `expr_visitor`):
a new node kind is added to `children`, and mypy names each `match` over the
kinds that still lacks it (each ends in `assert_never`).
Spellings an author chose (`at least` or `>=`, `10k` or `10_000`) are kept,
so the formatter can keep them too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never

from engine.language.source import NO_SPAN, Span

NodeId = int
_numbers = itertools.count(1)


def new_id() -> NodeId:
    """The next node number. Every node is numbered as it is built, by the builder
    (`build.py`) or by a pass or test that makes one: facts about nodes (types, leaves,
    bounds, encodings) are keyed by it, not by `id()`, so a node copied with
    `dataclasses.replace` keeps its facts and a freed node's address reused by another
    cannot pick them up. One counter for the process, so that nodes of different files
    (two versions compared) never share a number; numbers are not stable between runs
    and nothing outside the process sees them."""
    return next(_numbers)


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
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Number:
    value: float  # exact for ints; percentages as fractions (3.5% is 0.035)
    text: str  # as written: "10k", "10_000", "3.5%"
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)

    @property
    def is_percent(self) -> bool:
        return self.text.endswith("%")


@dataclass(frozen=True, slots=True)
class Text:
    value: str
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Flag:
    value: bool
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class TextSet:
    items: tuple[Text, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(item.value for item in self.items)


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Compare:
    value: Expr
    op: str  # canonical: >= <= > < == !=
    bound: Expr
    spelling: str  # as written: "at least", ">=", ...
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Between:
    """`value between low and high`: inclusive at both ends."""

    value: Expr
    low: Expr
    high: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class InSet:
    value: Expr
    items: TextSet
    negated: bool
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Has:
    """`topics has any of {...}`, `has all of {...}`; `has "x"` is `has all of {"x"}`."""

    value: Expr
    mode: str  # "any" | "all" | "one"
    items: TextSet
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class LevelIs:
    """`engagement high`, `engagement is high`, `engagement is not high`."""

    value: Name
    band: Name
    negated: bool
    spelling: str  # "", "is", "is not"
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class TextIs:
    """`platform is "tiktok"`, `platform is not "tiktok"`."""

    value: Expr
    text: Text
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Not:
    part: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


Literal = Number | Text | Flag | TextSet
Test = Compare | Between | InSet | Has | LevelIs | TextIs
Expr = Name | Literal | Arith | Neg | Test | AllOf | AnyOf | Not


# ----------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class RulesetDecl:
    name: Name
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class VersionDecl:
    version: Text
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class TitleDecl:
    title: Text
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class PolicyDecl:
    policy: str  # "first" | "unique"
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class InputDecl:
    name: Name
    type: TypeName
    optional: bool = False
    default: Literal | None = None
    range: Bound | None = None  # `percent at most 100%`: the values an account may give
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Bound:
    """A band's test: `at least 3.5%`, `between 1% and 3%`, or `otherwise` (op "")."""

    op: str  # >= <= > < == != between, or "" for otherwise
    spelling: str
    low: Expr | None = None
    high: Expr | None = None
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Band:
    name: Name
    bound: Bound
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class LevelDecl:
    name: Name
    source: Name
    bands: tuple[Band, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class LetDecl:
    name: Name
    type: TypeName | None
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class TierRule:
    name: Name
    when: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class LabelRule:
    name: Name
    when: Expr
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class OtherwiseRule:
    """`otherwise NAME`; `otherwise none` gives no tier."""

    name: Name
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Given:
    name: Name
    value: Literal
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Example:
    description: Text
    given: tuple[Given, ...]
    expect: Name
    labels: tuple[Name, ...] | None = None  # None: labels not checked
    span: Span = field(default=NO_SPAN, compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


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
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)
    own_line: bool = field(default=True, compare=False)


@dataclass(frozen=True, slots=True)
class RuleFile:
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    id: NodeId = field(default_factory=new_id, compare=False, repr=False, kw_only=True)


Node = Expr | Statement | Bound | Band | Given | Comment | RuleFile


def children(node: Node) -> tuple[Node, ...]:
    """The nodes directly under `node`, in source order (the order they are evaluated
    in, for a condition). The most common kinds come first: `walk` calls this for every
    node of a file of 10,000 tiers while it is read."""
    match node:
        case Name() | Number() | Text() | Flag() | PolicyDecl() | Comment():
            return ()
        case Compare(value=value, bound=bound):
            return (value, bound)
        case AllOf(parts=parts) | AnyOf(parts=parts):
            return parts
        case Between(value=value, low=low, high=high):
            return (value, low, high)
        case LevelIs(value=value, band=band):
            return (value, band)
        case InSet(value=value, items=items) | Has(value=value, items=items):
            return (value, items)
        case TextIs(value=value, text=text):
            return (value, text)
        case Not(part=part):
            return (part,)
        case Arith(left=left, right=right):
            return (left, right)
        case Neg(operand=operand):
            return (operand,)
        case TextSet(items=items):
            return items
        case TierRule(name=name, when=when) | LabelRule(name=name, when=when):
            return (name, when)
        case OtherwiseRule(name=name) | RulesetDecl(name=name):
            return (name,)
        case LetDecl(name=name, expr=expr):
            return (name, expr)
        case InputDecl(name=name, default=default, range=allowed):
            return tuple(n for n in (name, default, allowed) if n is not None)
        case Bound(low=low, high=high):
            return tuple(n for n in (low, high) if n is not None)
        case Band(name=name, bound=bound):
            return (name, bound)
        case LevelDecl(name=name, source=source, bands=bands):
            return (name, source, *bands)
        case VersionDecl(version=text) | TitleDecl(title=text):
            return (text,)
        case Given(name=name, value=value):
            return (name, value)
        case Example(description=description, given=given, expect=expect, labels=labels):
            return (description, *given, expect, *(labels or ()))
        case RuleFile(statements=statements):
            return statements
        case _:
            assert_never(node)


def value_names(node: Node) -> Iterator[Name]:
    """The names under `node` that stand for values (inputs, lets, levels), in source
    order: every `Name` but a band's in `engagement is high`."""
    bands: set[NodeId] = set()
    for item in walk(node):
        if type(item) is Name:
            if item.id not in bands:
                yield item
        elif type(item) is LevelIs:
            bands.add(item.band.id)  # met next but one: its value comes first


def walk(node: Node) -> Iterator[Node]:
    """`node` and every node under it, each before its children and the children in
    source order; without recursion, so that no nesting is too deep to walk."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        below = children(current)
        if below:
            stack.extend(reversed(below))
