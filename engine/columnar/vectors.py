"""Values over a whole batch, and the comparisons that keep Python's exactness.

A number column is a float64 array with, beside it, which rows Python holds as an
int (`ints`), which rows' floats are not the exact value (`loose`: an int past
2^53, or a sum or product of ints that went past it) and, for a count read as it
was given, the exact int64 values (`exact`). Python compares an int with a float
exactly; so do these comparisons: an int64 against a literal by integer bounds, a
float against a literal that no float holds (2^53 + 1) by the nearest float and
which side of it the literal lies. What they cannot decide exactly (loose rows)
they hand back as rows for the Python evaluator.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
EXACT_FLOAT = 2**53  # every int of magnitude up to this is a float, exactly
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass
class Num:
    """A numeric value a row: exact in `f` except where `loose`."""

    f: Floats
    ints: Mask  # Python holds an int here (arithmetic on two ints stays exact in Python)
    loose: Mask | None = None  # f is not the exact value: only the Python evaluator knows
    exact: Ints | None = None  # the exact values, when every row is an int64


@dataclass
class Text:
    """Texts a row: `values` (numpy str or object array), or `codes` into `vocabulary`."""

    values: npt.NDArray[np.object_] | npt.NDArray[np.str_] | None
    codes: npt.NDArray[np.int64] | None = None
    vocabulary: tuple[str, ...] = ()

    def equals(self, text: str) -> Mask:
        if self.codes is not None:
            at = [i for i, known in enumerate(self.vocabulary) if known == text]
            if len(at) == 1:
                return np.asarray(self.codes == at[0])
            return np.isin(self.codes, at)  # none, or an Arrow dictionary that repeats it
        assert self.values is not None
        return np.asarray(self.values == text, dtype=np.bool_)

    def plain(self) -> npt.NDArray[np.object_]:
        """One text a row, as an object array (for a text compared with another)."""
        if self.codes is not None:
            table = np.empty(len(self.vocabulary) + 1, dtype=object)
            table[: len(self.vocabulary)] = self.vocabulary
            return np.asarray(table[self.codes])
        assert self.values is not None
        return self.values.astype(object)


@dataclass
class Sets:
    """A set of texts a row: row i holds `items[offsets[i]:offsets[i + 1]]`."""

    items: Text
    offsets: npt.NDArray[np.int64]

    def has(self, text: str) -> Mask:
        found = self.items.equals(text)
        running = np.zeros(len(found) + 1, dtype=np.int64)
        np.cumsum(found, out=running[1:])
        return np.asarray(running[self.offsets[1:]] > running[self.offsets[:-1]])


Vec = Num | Text | Sets | Mask


def number(value: int | float, n: int) -> Num:
    """A literal (or a default) as a column of n rows."""
    is_int = type(value) is int
    loose = is_int and abs(value) > EXACT_FLOAT
    return Num(
        np.full(n, float(value)),
        np.full(n, is_int),
        np.full(n, loose) if loose else None,
        np.full(n, value, dtype=np.int64) if is_int and INT64_MIN <= value <= INT64_MAX else None,
    )


def either(a: Mask | None, b: Mask | None) -> Mask | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def arith(op: str, a: Num, b: Num) -> Num:
    """`a op b` as Python computes it: ints exactly (loose past 2^53), else floats;
    `/` always a float, and 0.0 where the divisor is 0."""
    with np.errstate(all="ignore"):
        if op == "/":
            zero = b.f == 0
            f = np.where(zero, 0.0, a.f / np.where(zero, 1.0, b.f))
            return Num(f, np.zeros(len(f), dtype=np.bool_), either(a.loose, b.loose))
        f = a.f + b.f if op == "+" else a.f - b.f if op == "-" else a.f * b.f
    ints = a.ints & b.ints
    # past 2^53 a float may have rounded the exact int (2^53 + 1 rounds down to 2^53 itself)
    loose = either(either(a.loose, b.loose), ints & (np.abs(f) >= EXACT_FLOAT))
    return Num(f, ints, loose)


def negate(a: Num) -> Num:
    return Num(-a.f, a.ints, a.loose, None if a.exact is None else _neg_exact(a.exact))


def _neg_exact(exact: Ints) -> Ints | None:
    return None if (exact == INT64_MIN).any() else -exact


def compare(op: str, a: Num, b: Num | int | float) -> tuple[Mask, Mask | None]:
    """`a op b` for every row, and the rows it could not decide exactly."""
    if not isinstance(b, Num):
        return compare_literal(op, a, b)
    test = OPS[op]
    if a.exact is not None and b.exact is not None:  # two counts: as int64, exactly
        return np.asarray(test(a.exact, b.exact), dtype=np.bool_), None
    result = np.asarray(test(a.f, b.f), dtype=np.bool_)
    return result, either(a.loose, b.loose)


def compare_literal(op: str, a: Num, value: int | float) -> tuple[Mask, Mask | None]:
    """`a op value` exactly, with `value` a Python int or float."""
    if a.exact is not None:
        return _int_compare(op, a.exact, value), None
    test = OPS[op]
    as_float = (
        float(value) if abs(value) <= 1.7976931348623157e308 else math.copysign(math.inf, value)
    )
    if type(value) is float or as_float == value:
        return np.asarray(test(a.f, as_float), dtype=np.bool_), a.loose
    # no float holds `value`: a float other than its nearest is on the same side of both,
    # and one equal to the nearest float is on the side the nearest float is
    nearest = np.asarray(test(a.f, as_float), dtype=np.bool_)
    at = a.f == as_float
    return np.where(at, bool(test(as_float, value)), nearest), a.loose


def _int_compare(op: str, x: Ints, value: int | float) -> Mask:
    """int64 values against any number, exactly: the literal as integer bounds."""
    n = len(x)
    if isinstance(value, float) and math.isnan(value):
        return np.full(n, op == "!=")
    if isinstance(value, float) and math.isinf(value):
        return np.full(n, bool(OPS[op](0, value)))
    whole = int(value) if isinstance(value, int) or value.is_integer() else None
    if op in ("==", "!="):
        same = (
            np.zeros(n, dtype=np.bool_)
            if whole is None or not INT64_MIN <= whole <= INT64_MAX
            else x == whole
        )
        return np.asarray(same if op == "==" else ~same)
    # x >= v  <=>  x >= ceil(v);  x > v  <=>  x > floor(v);  and the same below
    floor, ceil = math.floor(value), math.ceil(value)
    bound = ceil if op in (">=", "<") else floor
    if bound > INT64_MAX:
        return np.full(n, op in ("<", "<="))
    if bound < INT64_MIN:
        return np.full(n, op in (">", ">="))
    return np.asarray(OPS[op](x, np.int64(bound)), dtype=np.bool_)
