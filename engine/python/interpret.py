"""The reference interpreter: walks the AST, small and plainly correct.

Tests check that the compiled evaluator agrees with it on tier, labels and
reasons for every shipped ruleset and for generated ones; `engine/load.py` uses
its `conditions` to replay the analysis's witnesses before reporting them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from engine.checker.model import CheckedRuleset, Let, Rule, Value
from engine.language import ast
from engine.python.leaves import COMBINATORS, ordered_names
from engine.python.values import RuleConflict, json_value, validate


@dataclass(frozen=True)
class Outcome:
    tier: str | None
    rule: str | None
    labels: tuple[str, ...]
    reasons: tuple[
        tuple[str, str, bool, tuple[tuple[str, Any], ...]], ...
    ]  # rule, text, result, observed
    notes: tuple[str, ...]


def interpret(checked: CheckedRuleset, account: Mapping[str, Any]) -> Outcome:
    notes: list[str] = []
    env = _environment(checked, account, notes)
    steps: list[tuple[str, str, bool, tuple[tuple[str, Any], ...]]] = []

    def holds(rule_name: str, expr: ast.Expr) -> bool:
        if isinstance(expr, ast.AllOf):
            return all(holds(rule_name, p) for p in expr.parts)
        if isinstance(expr, ast.AnyOf):
            return any(holds(rule_name, p) for p in expr.parts)
        if isinstance(expr, ast.Not):
            return not holds(rule_name, expr.part)
        assert not isinstance(expr, COMBINATORS)
        result = bool(_value(expr, env, checked, notes))
        text = " ".join(checked.source.text_of(expr.span).split())
        seen = tuple((n, _shown(env[n])) for n in ordered_names(expr, checked))
        steps.append((rule_name, text, result, seen))
        return result

    matched = None
    for rule in checked.tiers:
        if rule.when is None:
            matched = matched or rule
            break
        if holds(rule.name, rule.when):
            if checked.policy == "first":
                matched = rule
                break
            if matched is not None:
                raise RuleConflict(
                    checked.name, (matched.name, matched.line), (rule.name, rule.line)
                )
            matched = rule
    labels = tuple(r.name for r in checked.labels if r.when is not None and holds(r.name, r.when))
    return Outcome(
        matched.tier if matched else None,
        matched.name if matched else None,
        labels,
        tuple(steps),
        tuple(dict.fromkeys(notes)),
    )


def _environment(
    checked: CheckedRuleset, account: Mapping[str, Any], notes: list[str]
) -> dict[str, Value | None]:
    """The account's inputs, validated, and every let and level computed from them."""
    env: dict[str, Value | None] = dict(validate(checked.inputs, account))
    for item in checked.derived:
        if isinstance(item, Let):
            env[item.name] = _value(item.expr, env, checked, notes)
        else:
            value = env[item.source]
            env[item.name] = next(
                (b.name for b in item.bands if _in_band(b.op, value, b.low, b.high)), None
            )
    return env


def conditions(
    checked: CheckedRuleset, account: Mapping[str, Any]
) -> Mapping[tuple[str, str], bool]:
    """Whether each rule's condition holds for the account, keyed by (kind, name): what
    the analysis replays its witnesses through. Each is evaluated when first asked for
    (a witness of a 1,000-tier file needs the tiers up to its match). Raises
    InputError for a bad account."""
    notes: list[str] = []
    env = _environment(checked, account, notes)
    rules: dict[tuple[str, str], Rule] = {
        (rule.kind, rule.name): rule for rule in (*checked.tiers, *checked.labels)
    }
    return _Held(rules, env, checked, notes)


class _Held(Mapping[tuple[str, str], bool]):
    def __init__(
        self,
        rules: dict[tuple[str, str], Rule],
        env: dict[str, Value | None],
        checked: CheckedRuleset,
        notes: list[str],
    ):
        self._rules, self._env, self._checked, self._notes = rules, env, checked, notes
        self._known: dict[tuple[str, str], bool] = {}

    def __getitem__(self, key: tuple[str, str]) -> bool:
        if key not in self._known:
            rule = self._rules[key]
            when = rule.when
            self._known[key] = when is None or bool(
                _value(when, self._env, self._checked, self._notes)
            )
        return self._known[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)


def _shown(value: Value | None) -> Any:
    return None if value is None else json_value(value)


def _in_band(op: str, value: Any, low: float | None, high: float | None) -> bool:
    if op == "":
        return True
    if op == "between":
        return bool(low <= value <= high)
    return _compare(op, value, low)


def _compare(op: str, a: Any, b: Any) -> bool:
    return bool(
        {
            ">=": lambda: a >= b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            "<": lambda: a < b,
            "==": lambda: a == b,
            "!=": lambda: a != b,
        }[op]()
    )


def _value(
    expr: ast.Expr, env: dict[str, Value | None], checked: CheckedRuleset, notes: list[str]
) -> Any:
    def ev(e: ast.Expr) -> Any:
        return _value(e, env, checked, notes)

    match expr:
        case ast.Name(name=name):
            return env[name]
        case ast.Number(value=value):
            return value
        case ast.Text(value=value) | ast.Flag(value=value):
            return value
        case ast.TextSet():
            return expr.values
        case ast.Arith(op=op, left=left, right=right):
            a, b = ev(left), ev(right)
            if op == "/":
                if b == 0:
                    text = " ".join(checked.source.text_of(expr.span).split())
                    divisor = " ".join(checked.source.text_of(right.span).split())
                    notes.append(f"division by zero in `{text}` ({divisor} is 0): taken as 0")
                    return 0.0
                return a / b
            return {"+": a + b, "-": a - b, "*": a * b}[op]
        case ast.Neg(operand=operand):
            return -ev(operand)
        case ast.Compare(value=value, op=op, bound=bound):
            return _compare(op, ev(value), ev(bound))
        case ast.Between(value=value, low=low, high=high):
            return ev(low) <= ev(value) <= ev(high)
        case ast.InSet(value=value, items=items, negated=negated):
            return (ev(value) in items.values) != negated
        case ast.Has(value=value, mode=mode, items=items):
            have = set(ev(value))
            if mode == "all" or mode == "one":
                return items.values <= have
            return bool(items.values & have)
        case ast.TextIs(value=value, text=text, negated=negated):
            return (ev(value) == text.value) != negated
        case ast.LevelIs(value=value, band=band, negated=negated):
            return (env[value.name] == band.name) != negated
        case ast.AllOf(parts=parts):
            return all(ev(p) for p in parts)
        case ast.AnyOf(parts=parts):
            return any(ev(p) for p in parts)
        case ast.Not(part=part):
            return not ev(part)
        case _:
            assert_never(expr)
