"""Boundary-heavy accounts for a ruleset, bad rows included, and the columns they make.

Each input draws from its rules' own numbers and their neighbours (the next float
either way, ±1, ±0.5), the edges of the number types (0, -0.0, 2^53 ± 1, 2^63 - 1,
2^63, 1e308, NaN, infinities), ints and floats of the same value, the rules' own texts,
and values `classify` refuses (missing, another type, negative, out of range), so that
a columnar answer is compared with `classify` where they are most likely to differ.
"""

from __future__ import annotations

import enum
import math
import random
from typing import Any

from engine import ClassifyError, Ruleset
from engine.checker.model import NUMERIC
from engine.language import ast

T = ast.TypeName
EDGES: list[Any] = [
    0,
    1,
    -1,
    0.0,
    -0.0,
    0.5,
    2**53 - 1,
    2**53,
    2**53 + 1,
    float(2**53),
    2**63 - 1,
    2**63,
    2**64,
    10**20,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    5e-324,
]
NOT_NUMBERS: list[Any] = [None, "45k", "1,200", True, False, [1], {"a": 1}, "4.2%"]


class Color(enum.IntEnum):
    RED = 3


class Word(enum.StrEnum):
    TECH = "tech"


def literals(ruleset: Ruleset) -> tuple[list[int | float], list[str]]:
    """Every number and text the rules write (conditions, bands, input ranges)."""
    numbers: list[int | float] = []
    texts: list[str] = []
    stack: list[object] = [r.when for r in (*ruleset.checked.tiers, *ruleset.checked.labels)]
    for item in ruleset.checked.derived:
        stack.append(getattr(item, "expr", None))
        for band in getattr(item, "bands", ()):
            numbers += [v for v in (band.low, band.high) if v is not None]
    for decl in ruleset.checked.inputs.values():
        if decl.range is not None:
            numbers += [v for v in (decl.range.lo, decl.range.hi) if math.isfinite(v)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Number):
            numbers.append(node.value)
        elif isinstance(node, ast.Text):
            texts.append(node.value)
        for slot in getattr(node, "__slots__", ()):
            if slot != "span":
                child = getattr(node, slot)
                stack.extend(child if isinstance(child, tuple) else (child,))
    return sorted(set(numbers)), sorted(set(texts))


def neighbours(value: int | float) -> list[Any]:
    out: list[Any] = [value, value + 1, value - 1, value + 0.5, value - 0.5, -value]
    if isinstance(value, float) or abs(value) < 2**1000:
        f = float(value)
        out += [f, math.nextafter(f, math.inf), math.nextafter(f, -math.inf), f * 100, f / 100]
        if f.is_integer() and abs(f) < 2**62:
            out.append(int(f))
    return out


def pool(ruleset: Ruleset, type_: T) -> list[Any]:
    numbers, texts = literals(ruleset)
    if type_ in NUMERIC:
        found = [n for value in numbers for n in neighbours(value)]
        return found + EDGES + NOT_NUMBERS + [Color.RED]
    if type_ is T.TEXT:
        return [*texts, "", "other", "ünï", None, 5, True, ["tech"], Word.TECH]
    if type_ is T.FLAG:
        return [True, False, None, 1, 0, "true"]
    return [[], None, "fashion", ["x", 5], [None], Word.TECH, *texts, *(["?"] * 3)]


def accounts(ruleset: Ruleset, n: int, seed: int = 29, bad: float = 0.1) -> list[dict[str, Any]]:
    """n accounts; about `bad` of the values are drawn from the whole pool (refused ones
    too), the rest from the values each input accepts."""
    rng = random.Random(seed)
    pools = {name: pool(ruleset, decl.type) for name, decl in ruleset.checked.inputs.items()}
    good = {name: [v for v in values if fits(ruleset, name, v)] for name, values in pools.items()}
    _numbers, texts = literals(ruleset)
    out = []
    for _ in range(n):
        account: dict[str, Any] = {}
        for name, decl in ruleset.checked.inputs.items():
            if rng.random() < bad or not good[name]:
                value = rng.choice(pools[name])
            elif decl.type is T.TEXT_SET:
                value = rng.sample([*texts, "a", "b"], rng.randint(0, min(4, len(texts) + 2)))
                value = rng.choice([value, tuple(value), frozenset(value), value * 2])
            else:
                value = rng.choice(good[name])
            if value is not None or rng.random() < 0.5:
                account[name] = value
        out.append(account)
    return out


def fits(ruleset: Ruleset, name: str, value: Any) -> bool:
    """Whether `classify` accepts this value for this input (all else fitting)."""
    decl = ruleset.checked.inputs[name]
    if value is None:
        return decl.optional
    try:
        from engine.python.values import validate

        validate({name: decl}, {name: value})
    except ClassifyError:
        return False
    return True


def expected(ruleset: Ruleset, account: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(tier, labels, rule, error) as `classify` answers."""
    try:
        d = ruleset.classify(account)
    except ClassifyError as error:
        return (None, None, None, str(error))
    return (d.tier, d.labels, None if d.rule is None else d.rule.name, None)


def as_columns(ruleset: Ruleset, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row.get(name) for row in rows] for name in ruleset.checked.inputs}


def differences(
    ruleset: Ruleset, rows: list[dict[str, Any]], out: dict[str, Any], limit: int = 5
) -> list[str]:
    """The first rows where the columns differ from `classify`, described."""
    found = []
    for row, account in enumerate(rows):
        want = expected(ruleset, account)
        got = tuple(out[name][row] for name in ("tier", "labels", "rule", "error"))
        if got != want:
            found.append(f"row {row} {account!r}: columns {got!r}, classify {want!r}")
            if len(found) >= limit:
                break
    return found
