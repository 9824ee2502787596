"""Rows the columns cannot decide, decided by the Python evaluator one at a time.

A column is read back as the plain Python values a caller would have put in an
account (numpy scalars as ints, floats, bools and texts; Arrow values as Python's),
so that the evaluator sees each row exactly as `classify` would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.python.values import ClassifyError

Classify = Callable[[Mapping[str, Any]], Any]  # account -> Decision


def python_values(column: object) -> Sequence[Any]:
    """The column's values as Python reads them, one a row (None where a value is absent).

    A numpy array gives its items (`tolist` turns int64 into int, float64 into float);
    an Arrow array or chunked array its Python values; a list or tuple is itself."""
    if isinstance(column, list | tuple):
        return column
    if type(column).__module__.startswith("pyarrow"):
        return column.to_pylist()  # type: ignore[attr-defined, no-any-return]
    tolist = getattr(column, "tolist", None)
    if tolist is not None and getattr(column, "ndim", 1) == 1:
        return tolist()  # type: ignore[no-any-return]
    return list(column)  # type: ignore[call-overload, no-any-return]


Answer = tuple[str | None, tuple[str, ...] | None, str | None, str | None]


def decide_rows(
    classify: Classify, values: Mapping[str, Sequence[Any]], count: int
) -> list[Answer]:
    """(tier, labels, rule, error) for each of `count` accounts: the k-th values of
    `values` make the k-th account. An input without a column is absent from every
    account (its default, or the "missing" error); a None in a column is the same."""
    names = tuple(values)
    columns = tuple(values[name] for name in names)
    answers: list[Answer] = []
    for k in range(count):
        account = {
            name: value
            for name, value in zip(names, (column[k] for column in columns), strict=True)
            if value is not None
        }
        try:
            decision = classify(account)
        except ClassifyError as problem:
            answers.append((None, None, None, str(problem)))
            continue
        rule = None if decision.rule is None else decision.rule.name
        answers.append((decision.tier, decision.labels, rule, None))
    return answers
