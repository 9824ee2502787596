"""Conditions, lets and levels over a batch: one numpy operation a node, every row at once.

`Batch.value` is the one `match` over the syntax tree's node kinds. A node gives a
column (`Vec`) or, for a literal, the Python value itself, so that a comparison with
a literal can be exact (vectors.compare_literal). Every row a comparison could not
decide exactly is added to `unsure`: the Python evaluator decides those rows.
"""

from __future__ import annotations

from typing import assert_never

import numpy as np
import numpy.typing as npt

from engine.checker.model import CheckedRuleset, Let, Level
from engine.columnar.vectors import (
    OPS,
    Mask,
    Num,
    Sets,
    Text,
    Vec,
    arith,
    compare,
    either,
    negate,
    number,
)
from engine.language import ast

Scalar = int | float | str | bool | frozenset[str]
Value = Vec | Scalar
_FLIPPED = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}


class Batch:
    """The values of one batch: inputs, then lets and levels in dependency order."""

    def __init__(self, checked: CheckedRuleset, inputs: dict[str, Vec], n: int):
        self.checked = checked
        self.n = n
        self.values: dict[str, Vec] = dict(inputs)
        self.levels: dict[str, npt.NDArray[np.int16]] = {}
        self.unsure: Mask | None = None
        for item in checked.derived:
            if isinstance(item, Let):
                self.values[item.name] = self.column(self.value(item.expr))
            else:
                self.levels[item.name] = self.level(item)

    def doubt(self, rows: Mask | None) -> None:
        self.unsure = either(self.unsure, rows)

    def column(self, value: Value) -> Vec:
        """A literal as a column of n rows; a column as it is."""
        if isinstance(value, bool):
            return np.full(self.n, value)
        if isinstance(value, int | float):
            return number(value, self.n)
        if isinstance(value, str):
            return Text(None, np.zeros(self.n, dtype=np.int64), (value,))
        if isinstance(value, frozenset):
            items = sorted(value)
            flat = np.array(items * self.n, dtype=object) if items else np.empty(0, dtype=object)
            return Sets(Text(flat), np.arange(self.n + 1, dtype=np.int64) * len(items))
        return value

    def mask(self, node: ast.Expr) -> Mask:
        found = self.column(self.value(node))
        assert isinstance(found, np.ndarray), node
        return found

    def level(self, level: Level) -> npt.NDArray[np.int16]:
        """Each row's band (its index), or -1 where none holds."""
        source = self.values[level.source]
        assert isinstance(source, Num)
        chosen = np.full(self.n, -1, dtype=np.int16)
        for index in range(len(level.bands) - 1, -1, -1):
            band = level.bands[index]
            if band.op == "":
                chosen[:] = index
                continue
            assert band.low is not None
            if band.op == "between":
                assert band.high is not None
                test = self.compared(">=", source, band.low) & self.compared(
                    "<=", source, band.high
                )
            else:
                test = self.compared(band.op, source, band.low)
            chosen = np.where(test, np.int16(index), chosen)
        return chosen

    def compared(self, op: str, a: Value, b: Value) -> Mask:
        """`a op b` for numbers, texts or flags."""
        if isinstance(a, int | float) and not isinstance(a, bool) and isinstance(b, Num):
            return self.compared(_FLIPPED[op], b, a)
        if isinstance(a, Num):
            right = b if isinstance(b, Num) else b if isinstance(b, int | float) else None
            assert right is not None and not isinstance(right, bool)
            result, unsure = compare(op, a, right)
            self.doubt(unsure)
            return result
        if isinstance(a, Text) and isinstance(b, str):
            same = a.equals(b)
        elif isinstance(b, Text) and isinstance(a, str):
            same = b.equals(a)
        elif isinstance(a, Text) and isinstance(b, Text):
            same = np.asarray(a.plain() == b.plain(), dtype=np.bool_)
        elif isinstance(a, np.ndarray | bool) and isinstance(b, np.ndarray | bool):
            same = np.asarray(np.equal(a, b), dtype=np.bool_)
        else:
            both = OPS[op](a, b)
            return np.full(self.n, bool(both))
        if op == "==":
            return same
        assert op == "!="
        return ~same

    def value(self, node: ast.Expr) -> Value:
        match node:
            case ast.Name(name=name):
                return self.values[name]
            case ast.Number(value=value):
                return value
            case ast.Text(value=value):
                return value
            case ast.Flag(value=value):
                return value
            case ast.TextSet():
                return node.values
            case ast.Arith(op=op, left=left, right=right):
                a, b = self.column(self.value(left)), self.column(self.value(right))
                assert isinstance(a, Num) and isinstance(b, Num)
                return arith(op, a, b)
            case ast.Neg(operand=operand):
                a = self.column(self.value(operand))
                assert isinstance(a, Num)
                return negate(a)
            case ast.Compare(value=value, op=op, bound=bound):
                return self.compared(op, self.value(value), self.value(bound))
            case ast.Between(value=value, low=low, high=high):
                x = self.value(value)
                return self.compared(">=", x, self.value(low)) & self.compared(
                    "<=", x, self.value(high)
                )
            case ast.InSet(value=value, items=items, negated=negated):
                texts = self.column(self.value(value))
                assert isinstance(texts, Text)
                found = np.zeros(self.n, dtype=np.bool_)
                for item in sorted(items.values):
                    found |= texts.equals(item)
                return ~found if negated else found
            case ast.Has(value=value, mode=mode, items=items):
                sets = self.column(self.value(value))
                assert isinstance(sets, Sets)
                wanted = [sets.has(item) for item in sorted(items.values)]
                if mode == "any":
                    return _any(wanted, self.n)
                return _all(wanted, self.n)
            case ast.TextIs(value=value, text=text, negated=negated):
                return self.compared("!=" if negated else "==", self.value(value), text.value)
            case ast.LevelIs(value=value, band=band, negated=negated):
                index = self.checked.levels[value.name].band_names().index(band.name)
                same: Mask = np.asarray(self.levels[value.name] == index)
                return ~same if negated else same
            case ast.AllOf(parts=parts):
                return _all([self.mask(part) for part in parts], self.n)
            case ast.AnyOf(parts=parts):
                return _any([self.mask(part) for part in parts], self.n)
            case ast.Not(part=part):
                return ~self.mask(part)
            case _:
                assert_never(node)


def _any(masks: list[Mask], n: int) -> Mask:
    out = np.zeros(n, dtype=np.bool_)
    for mask in masks:
        out |= mask
    return out


def _all(masks: list[Mask], n: int) -> Mask:
    out = np.ones(n, dtype=np.bool_)
    for mask in masks:
        out &= mask
    return out
