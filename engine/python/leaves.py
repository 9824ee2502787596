"""The leaf conditions of a ruleset: the unit a reason reports on.

A leaf is a condition that is not `and`, `or` or `not`. Both evaluators
(compiled and reference) report, for each leaf they evaluate, its source text,
the values it read and its result; this module holds what they share about
leaves, so they describe the same things the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.checker.model import CheckedRuleset, Rule, Value
from engine.checker.types import show_value
from engine.language import ast
from engine.python.terminal import printable

COMBINATORS = (ast.AllOf, ast.AnyOf, ast.Not)


GapSpec = tuple[str, str, float, float | None, ast.TypeName | None]  # name, op, low, high, type


@dataclass(frozen=True, slots=True)
class Leaf:
    id: int
    rule: Rule
    expr: ast.Expr
    text: str  # the rule's own words for it (as reasons and the decision log keep them)
    shown: str  # the same, as explanations show it: a string's ESC as \x1b (`printable`)
    names: tuple[str, ...]  # what it reads: inputs, lets, levels (a level adds its source)
    sets: frozenset[str]  # which of those are sets (shown as sorted lists)
    gap: GapSpec | None  # how to say by how much it failed, for numeric tests
    needs: str  # explanation line heads, made once: "  ✗ macro (line 21) needs …"
    held: str
    missed: str
    short_of: Callable[[Value | None], str | None]  # `gap` of the gap name's value, specialised

    def shortfall(self, env: dict[str, Value]) -> str | None:
        """For a failed numeric test: by how much ("55,000 short")."""
        return self.short_of(env.get(self.gap[0])) if self.gap else None


def leaves_of(expr: ast.Expr) -> Iterator[ast.Expr]:
    """Leaves in evaluation order."""
    if isinstance(expr, ast.AllOf | ast.AnyOf):
        for part in expr.parts:
            yield from leaves_of(part)
    elif isinstance(expr, ast.Not):
        yield from leaves_of(expr.part)
    else:
        yield expr


def ordered_names(expr: ast.Expr, checked: CheckedRuleset) -> tuple[str, ...]:
    """The names an expression reads, first use first; a level brings its source."""
    found: dict[str, None] = {}
    levels = checked.levels
    for node in ast.value_names(expr):
        name = node.name
        found[name] = None
        if name in levels:
            found.setdefault(levels[name].source)
    return tuple(found)


def rule_leaves(checked: CheckedRuleset) -> tuple[Leaf, ...]:
    """Every leaf of every tier and label rule, numbered in file order."""
    out: list[Leaf] = []
    set_names = {n for n, i in checked.inputs.items() if i.type is ast.TypeName.TEXT_SET}
    for rule in (*checked.tiers, *checked.labels):
        if rule.when is None:
            continue
        for expr in leaves_of(rule.when):
            text = " ".join(checked.source.text_of(expr.span).split())
            shown = printable(text)
            names = ordered_names(expr, checked)
            spec = gap_spec(expr, checked)
            out.append(
                Leaf(
                    len(out),
                    rule,
                    expr,
                    text,
                    shown,
                    names,
                    frozenset(set_names & set(names)),
                    spec,
                    needs=f"  ✗ {rule.name} (line {rule.line}) needs {shown}",
                    held=f"  ✓ {shown} (",
                    missed=f"  ✗ {shown} (",
                    short_of=_short_of(spec),
                )
            )
    return tuple(out)


def gap_spec(expr: ast.Expr, checked: CheckedRuleset) -> GapSpec | None:
    """What a failed numeric test is measured against: a name, its bound and units."""
    match expr:
        case ast.Compare(value=ast.Name(name=name), op=op, bound=ast.Number(value=bound)):
            return (name, op, bound, None, _type_of(name, checked))
        case ast.Between(
            value=ast.Name(name=name), low=ast.Number(value=lo), high=ast.Number(value=hi)
        ):
            return (name, "between", lo, hi, _type_of(name, checked))
        case ast.LevelIs(value=ast.Name(name=name), band=band, negated=False):
            level = checked.levels[name]
            wanted = next(b for b in level.bands if b.name == band.name)
            if wanted.op in ("", "!=") or wanted.low is None:
                return None
            source = level.source
            return (source, wanted.op, wanted.low, wanted.high, _type_of(source, checked))
    return None


def usual_gap_bounds(spec: GapSpec) -> tuple[float | None, float | None] | None:
    """The cases worth a fast path, for `Leaf.short_of` and the generated explainer: a
    count (whole bounds below 1e15) or a percent, by the bound a value falls short of
    and the one it goes over (None where the test has no such side). None for any
    other test: `_distance` alone says how far it missed."""
    _name, op, low, high, type_ = spec
    short = low if op in (">=", ">", "between") else None
    over = high if op == "between" else low if op in ("<=", "<") else None
    bounds = [b for b in (short, over) if b is not None]
    if type_ is ast.TypeName.COUNT:
        if not all(float(b).is_integer() and abs(b) < 1e15 for b in bounds):
            return None
        return (None if short is None else int(short), None if over is None else int(over))
    return (short, over) if type_ is ast.TypeName.PERCENT and bounds else None


def _short_of(spec: GapSpec | None) -> Callable[[Value | None], str | None]:
    """`_distance` with the spec bound; the usual cases, a count or a percent on the
    wrong side of its bound, inlined (explanations show a gap for every tier tried)."""
    if spec is None:
        return lambda value: None
    _name, op, low, high, type_ = spec
    bounds = usual_gap_bounds(spec)
    if bounds is None:
        return lambda value: _distance(value, op, low, high, type_)
    floor, top = bounds
    if type_ is ast.TypeName.COUNT:

        def count_gap(value: Value | None) -> str | None:
            if type(value) is int:  # below 1e15, as `show_value` writes it in full
                if floor is not None and value < floor and floor - value < 1e15:
                    return f"{floor - value:,} short"
                if top is not None and value > top and value - top < 1e15:
                    return f"{value - top:,} over"
            return _distance(value, op, low, high, type_)

        return count_gap

    def percent_gap(value: Value | None) -> str | None:
        if type(value) is float:
            if floor is not None and value < floor:
                return f"{(floor - value) * 100:.6g}% short"
            if top is not None and value > top:
                return f"{(value - top) * 100:.6g}% over"
        return _distance(value, op, low, high, type_)

    return percent_gap


def _type_of(name: str, checked: CheckedRuleset) -> ast.TypeName | None:
    if name in checked.inputs:
        return checked.inputs[name].type
    let = checked.lets.get(name)
    return let.type if let else None


def _distance(
    value: Value | None, op: str, low: float, high: float | None, type_: ast.TypeName | None
) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if op in (">=", ">") or (op == "between" and value < low):
        return f"{show_value(low - value, type_)} short" if value <= low else None
    if op in ("<=", "<") or (op == "between" and high is not None and value > high):
        limit = low if op != "between" else high
        assert limit is not None
        return f"{show_value(value - limit, type_)} over" if value >= limit else None
    if op == "==":
        return f"off by {show_value(abs(value - low), type_)}"
    return None


def value_formatters(checked: CheckedRuleset) -> dict[str, Callable[[Any], str]]:
    """For each name, how to show its value the way a rule author writes it."""
    out: dict[str, Callable[[Any], str]] = {}
    types = {n: i.type for n, i in checked.inputs.items()}
    types.update({n: let.type for n, let in checked.lets.items()})
    for name, type_ in types.items():
        out[name] = _formatter(type_)
    for name in checked.levels:
        out[name] = lambda v: "no band" if v is None else str(v)
    return out


def _formatter(type_: ast.TypeName) -> Callable[[Any], str]:
    T = ast.TypeName
    if type_ is T.TEXT:  # a text from data: its control characters shown as escapes
        return lambda v: f'"{printable(v)}"'
    if type_ is T.TEXT_SET:  # a list on the fast path (its items may be StrEnum members):
        # shown as the set of plain texts it stands for
        return lambda v: (
            "{" + ", ".join(f'"{printable(x)}"' for x in sorted({str.__str__(x) for x in v})) + "}"
        )
    if type_ is T.FLAG:
        return lambda v: "true" if v else "false"
    if type_ is T.PERCENT:
        return lambda v: f"{v * 100:.6g}%" if type(v) is float else show_value(v, type_)
    if type_ is T.COUNT:
        return lambda v: f"{v:,}" if type(v) is int else show_value(v, type_)
    return lambda v: show_value(v, type_)
