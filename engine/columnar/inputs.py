"""Columns read as their inputs' declared types, and the rows the Python evaluator must see.

Each input's column becomes a `Vec` (vectors.py) and a mask of the rows that array
operations do not decide: every row `classify` refuses (a missing required value,
another type, a negative count, a percent out of its range, NaN), whose error text
the Python evaluator writes, and every row whose value is not one of the exact plain
types the fast path of `classify` reads (an IntEnum, a str subclass). A missing value
of an optional input takes its default, as in `validate`.

Arrow arrays are read through their buffers (numbers and flags without a copy when
they hold no nulls; texts by dictionary encoding), numpy arrays as they are, and
lists by their elements' types: a list of ints only becomes an int64 array, of floats
only a float64 one; any other list is read element by element.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from engine.checker.model import MAX_COUNT, Input, Value
from engine.columnar.vectors import (
    EXACT_FLOAT,
    Mask,
    Num,
    Sets,
    Text,
    Vec,
    compare_literal,
    number,
)
from engine.language.ast import TypeName
from engine.python.values import MAX_NUMBER

T = TypeName
_SET_TYPES = (list, tuple, set, frozenset)


@dataclass
class Read:
    vec: Vec  # the values (anything in the rows of `python`)
    python: Mask  # rows left to the Python evaluator: refused, or not of an exact type


def read_input(decl: Input, column: Any, n: int) -> Read:
    """The column of one input (None: no column, every row absent)."""
    if column is None:
        return _absent(decl, np.ones(n, dtype=np.bool_), None)
    if type(column).__module__.startswith("pyarrow"):
        return _arrow(decl, column, n)
    if isinstance(column, np.ndarray) and column.ndim == 1 and column.dtype.kind != "O":
        return _numpy(decl, column, np.zeros(n, dtype=np.bool_))
    values: Sequence[Any] = column if isinstance(column, list | tuple) else list(column)
    return _objects(decl, values, n)


def records_to_columns(
    accounts: Sequence[Mapping[str, Any]], names: Iterable[str]
) -> dict[str, list[Any]]:
    """A list a name of the accounts' values (None where an account has no such key),
    as `classify` reads them. `map(itemgetter)` reads a key out of every dict in C
    (29 ns a row against 34 for a comprehension of `.get`); a batch where some
    account lacks the key is read again with `.get`."""
    out: dict[str, list[Any]] = {}
    for name in names:
        try:
            out[name] = list(map(itemgetter(name), accounts))
        except KeyError:
            out[name] = [account.get(name) for account in accounts]
    return out


def _absent(decl: Input, missing: Mask, read: Read | None) -> Read:
    """Rows without a value: the default where there is one, else the Python evaluator's
    "missing" error."""
    n = len(missing)
    if not decl.optional:
        if read is None:
            return Read(_filler(decl.type, n), missing.copy())
        return Read(read.vec, read.python | missing)
    assert decl.default is not None
    default = _constant(decl.type, decl.default, n)
    if read is None:
        return Read(default, np.zeros(n, dtype=np.bool_))
    return Read(_merge(missing, default, read.vec), read.python & ~missing)


def _constant(type_: TypeName, value: Value, n: int) -> Vec:
    if type_ in (T.COUNT, T.NUMBER, T.PERCENT):
        assert isinstance(value, int | float) and not isinstance(value, bool)
        return number(value, n)
    if type_ is T.FLAG:
        return np.full(n, bool(value))
    if type_ is T.TEXT:
        return Text(None, np.zeros(n, dtype=np.int64), (str(value),))
    assert isinstance(value, frozenset)
    items = sorted(value)
    flat = np.array(items * n, dtype=object) if items else np.empty(0, dtype=object)
    return Sets(Text(flat), np.arange(n + 1, dtype=np.int64) * len(items))


def _filler(type_: TypeName, n: int) -> Vec:
    """Some value of the type, for rows whose answer comes from elsewhere."""
    fillers: dict[TypeName, Value] = {T.FLAG: False, T.TEXT: "", T.TEXT_SET: frozenset()}
    return _constant(type_, fillers.get(type_, 0), n)


def _merge(where: Mask, a: Vec, b: Vec) -> Vec:
    """a where `where`, else b."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.where(where, a, b)
    if isinstance(a, Num) and isinstance(b, Num):
        exact = None
        if a.exact is not None and b.exact is not None:
            exact = np.where(where, a.exact, b.exact)
        loose = None
        if a.loose is not None or b.loose is not None:
            la = a.loose if a.loose is not None else np.zeros(len(where), dtype=np.bool_)
            lb = b.loose if b.loose is not None else np.zeros(len(where), dtype=np.bool_)
            loose = np.where(where, la, lb)
        return Num(np.where(where, a.f, b.f), np.where(where, a.ints, b.ints), loose, exact)
    if isinstance(a, Text) and isinstance(b, Text):
        return Text(np.where(where, a.plain(), b.plain()))
    assert isinstance(a, Sets) and isinstance(b, Sets)
    return _merge_sets(where, a, b)


def _merge_sets(where: Mask, a: Sets, b: Sets) -> Sets:
    rows_a = [a.items.plain()[a.offsets[i] : a.offsets[i + 1]] for i in range(len(where))]
    rows_b = [b.items.plain()[b.offsets[i] : b.offsets[i + 1]] for i in range(len(where))]
    rows = [ra if w else rb for w, ra, rb in zip(where.tolist(), rows_a, rows_b, strict=True)]
    sizes = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    flat = np.empty(int(offsets[-1]), dtype=object)
    flat[:] = list(chain.from_iterable(rows))
    return Sets(Text(flat), offsets)


# ----------------------------------------------------------------- numbers


def _numbers(decl: Input, f: np.ndarray[Any, Any], ints: bool, python: Mask) -> Read:
    """A float64 or int64 column of a numeric input, checked as `coerce` and `within` do."""
    n = len(f)
    if ints:
        exact = f.astype(np.int64, copy=False)
        values = exact.astype(np.float64)
        loose = (exact > EXACT_FLOAT) | (exact < -EXACT_FLOAT)  # as ints: 2^53 + 1 is no float
        num = Num(values, np.ones(n, dtype=np.bool_), loose if loose.any() else None, exact)
        refused = exact < 0 if decl.type is T.COUNT else np.zeros(n, dtype=np.bool_)
    else:
        values = f.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore"):
            finite = np.abs(values) <= MAX_NUMBER
        if decl.type is T.COUNT:
            whole = finite & (values >= 0) & (values < 2.0**63) & (np.floor(values) == values)
            refused = ~whole
            exact = np.where(whole, values, 0).astype(np.int64)
            num = Num(values, np.ones(n, dtype=np.bool_), None, exact)  # whole floats: exact
        else:
            refused = ~finite
            num = Num(values, np.zeros(n, dtype=np.bool_))
    if decl.range is not None:
        refused |= ~_within(decl, num)
    return Read(num, python | refused)


def _within(decl: Input, num: Num) -> Mask:
    allowed = decl.range
    assert allowed is not None
    inside = np.ones(len(num.f), dtype=np.bool_)
    if np.isfinite(allowed.lo):
        inside &= compare_literal(">=" if allowed.lo_closed else ">", num, allowed.lo)[0]
    if np.isfinite(allowed.hi):
        inside &= compare_literal("<=" if allowed.hi_closed else "<", num, allowed.hi)[0]
    return inside


def _numpy(decl: Input, column: np.ndarray[Any, Any], python: Mask) -> Read:
    """A numpy array of a fixed dtype; a dtype the input refuses sends every row to
    the Python evaluator, which says why."""
    kind = column.dtype.kind
    n = len(column)
    numeric = decl.type in (T.COUNT, T.NUMBER, T.PERCENT)
    if numeric and kind in "iu":
        if kind == "u" and column.dtype.itemsize == 8:
            too_big = column > MAX_COUNT
            clipped = np.where(too_big, 0, column).astype(np.int64)
            return _numbers(decl, clipped, True, python | too_big)
        return _numbers(decl, column, True, python)
    if numeric and kind == "f":
        return _numbers(decl, column, False, python)
    if decl.type is T.FLAG and kind == "b":
        return Read(column.astype(np.bool_, copy=False), python)
    if decl.type is T.TEXT and kind == "U":
        return Read(Text(column), python)
    return Read(_filler(decl.type, n), np.ones(n, dtype=np.bool_))


# ------------------------------------------------------------------ objects


def _objects(decl: Input, values: Sequence[Any], n: int) -> Read:
    """A list (or object array): by its elements' exact types; None is a missing value."""
    kinds = set(map(type, values))
    if decl.type in (T.COUNT, T.NUMBER, T.PERCENT):
        if kinds <= {int}:
            try:
                return _numbers(decl, np.fromiter(values, np.int64, n), True, _none(n))
            except OverflowError:
                pass
        elif kinds <= {float}:
            return _numbers(decl, np.fromiter(values, np.float64, n), False, _none(n))
        elif kinds == {type(None)}:
            return _absent(decl, np.ones(n, dtype=np.bool_), None)
        elif kinds <= {int, type(None)} or kinds <= {float, type(None)}:
            return _numbers_with_gaps(decl, values, n, int in kinds)
        return _mixed_numbers(decl, values, n)
    if decl.type is T.FLAG:
        return _by_element(decl, values, n, bool)
    if decl.type is T.TEXT:
        if kinds <= {str}:
            return Read(Text(np.array(values, dtype=object)), _none(n))
        return _by_element(decl, values, n, str)
    return _sets(decl, values, n)


def _none(n: int) -> Mask:
    return np.zeros(n, dtype=np.bool_)


def _numbers_with_gaps(decl: Input, values: Sequence[Any], n: int, ints: bool) -> Read:
    """ints and Nones, or floats and Nones: a gap is a missing value."""
    missing = np.fromiter((v is None for v in values), dtype=np.bool_, count=n)
    filled = [0 if v is None else v for v in values]
    try:
        read = _numbers(
            decl, np.array(filled, dtype=np.int64 if ints else np.float64), ints, _none(n)
        )
    except OverflowError:  # an int past 64 bits
        return _mixed_numbers(decl, values, n)
    return _absent(decl, missing, read)


def _mixed_numbers(decl: Input, values: Sequence[Any], n: int) -> Read:
    """ints and floats side by side, Nones, and anything else: element by element.
    An int is kept exact where a float64 holds it; past that its row goes to Python."""
    f = np.zeros(n, dtype=np.float64)
    ints = np.zeros(n, dtype=np.bool_)
    missing = np.zeros(n, dtype=np.bool_)
    python = np.zeros(n, dtype=np.bool_)
    for row, value in enumerate(values):
        kind = type(value)
        if kind is float:
            f[row] = value
        elif kind is int and -EXACT_FLOAT <= value <= EXACT_FLOAT:
            f[row], ints[row] = value, True
        elif value is None:
            missing[row] = True
        else:
            python[row] = True
    if decl.type is T.COUNT and not python.any() and ints.all():
        read = _numbers(decl, f.astype(np.int64), True, python)
    elif decl.type is T.COUNT:
        read = _numbers(decl, f, False, python)  # counts from floats; ints stay whole
    else:
        read = _numbers(decl, f, False, python)
        assert isinstance(read.vec, Num)
        read.vec.ints = ints
    return _absent(decl, missing, read) if missing.any() else read


def _by_element(decl: Input, values: Sequence[Any], n: int, kind: type) -> Read:
    """Flags or texts: the elements of exactly that type; None missing; others to Python."""
    python = np.fromiter((type(v) is not kind for v in values), dtype=np.bool_, count=n)
    missing = np.fromiter((v is None for v in values), dtype=np.bool_, count=n)
    python &= ~missing
    if kind is bool:
        vec: Vec = np.fromiter((v is True for v in values), dtype=np.bool_, count=n)
    else:
        vec = Text(np.array([v if type(v) is str else "" for v in values], dtype=object))
    read = Read(vec, python)
    return _absent(decl, missing, read) if missing.any() else read


def _sets(decl: Input, values: Sequence[Any], n: int) -> Read:
    """Lists (tuples, sets) of texts; a row holding anything else goes to Python."""
    if set(map(type, values)) <= set(_SET_TYPES):
        flat = list(chain.from_iterable(values))
        if set(map(type, flat)) <= {str}:  # lists of texts only: no loop in Python
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=n), out=offsets[1:])
            items = np.empty(len(flat), dtype=object)
            items[:] = flat
            return Read(Sets(Text(items), offsets), _none(n))
    python = np.zeros(n, dtype=np.bool_)
    missing = np.zeros(n, dtype=np.bool_)
    rows: list[Any] = []
    for row, value in enumerate(values):
        if type(value) is np.ndarray and value.ndim == 1 and value.dtype.kind in "UO":
            value = value.tolist()  # a list column of pandas holds arrays: `plain` reads them so
        if type(value) in _SET_TYPES and all(type(item) is str for item in value):
            rows.append(value)
        else:
            rows.append(())
            if value is None:
                missing[row] = True
            else:
                python[row] = True
    sizes = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    texts = np.empty(int(offsets[-1]), dtype=object)
    texts[:] = list(chain.from_iterable(rows))
    read = Read(Sets(Text(texts), offsets), python)
    return _absent(decl, missing, read) if missing.any() else read


# -------------------------------------------------------------------- arrow


def _arrow(decl: Input, column: Any, n: int) -> Read:
    """An Arrow array: nulls are missing values; numbers and flags read from the
    buffers, texts dictionary-encoded, lists of texts as offsets and items."""
    pa = importlib.import_module("pyarrow")  # only when given Arrow: no need otherwise

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    missing = np.zeros(n, dtype=np.bool_)
    if column.null_count:
        missing = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(kind) and decl.type is T.TEXT:
        if not (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
            return Read(_filler(decl.type, n), np.ones(n, dtype=np.bool_))
        codes = column.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        vocabulary = tuple(column.dictionary.to_pylist())
        if None in vocabulary:  # a null in the dictionary: the rows pointing at it are gaps
            nulls = [i for i, text in enumerate(vocabulary) if text is None]
            missing = missing | np.isin(codes, nulls)
            vocabulary = tuple("" if text is None else text for text in vocabulary)
        read = Read(Text(None, codes, vocabulary or ("",)), _none(n))
    elif decl.type is T.TEXT and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        encoded = column.dictionary_encode()
        codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        vocabulary = tuple(encoded.dictionary.to_pylist()) or ("",)
        read = Read(Text(None, codes, vocabulary), _none(n))
    elif decl.type is T.TEXT_SET and (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        return _arrow_sets(decl, column, n, missing)
    elif (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    ) and decl.type is not T.TEXT_SET:
        filled = column.fill_null(False if pa.types.is_boolean(kind) else 0)
        read = _numpy(decl, filled.to_numpy(zero_copy_only=False), _none(n))
    else:
        return _objects(decl, column.to_pylist(), n)
    return _absent(decl, missing, read) if missing.any() else read


def _arrow_sets(decl: Input, column: Any, n: int, missing: Mask) -> Read:
    pa = importlib.import_module("pyarrow")

    items = None if column.null_count else column.flatten()  # a slice: from its offsets
    if items is None:  # null lists may hold items: read as Python reads them
        return _objects(decl, column.to_pylist(), n)
    kind = items.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return _objects(decl, column.to_pylist(), n)
    offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = offsets - offsets[0]
    python = np.zeros(n, dtype=np.bool_)
    if items.null_count:  # a list holding a null: the Python evaluator refuses it
        bad = items.is_null().to_numpy(zero_copy_only=False)
        counts = np.zeros(len(bad) + 1, dtype=np.int64)
        np.cumsum(bad, out=counts[1:])
        python = counts[offsets[1:]] > counts[offsets[:-1]]
    encoded = items.dictionary_encode()
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    vocabulary = tuple(encoded.dictionary.to_pylist()) or ("",)
    read = Read(Sets(Text(None, codes, vocabulary), offsets), python)
    return _absent(decl, missing, read) if missing.any() else read
