"""Classify a batch of accounts given as columns: the columnar stage's entry point.

Tiers are chosen by masks: under `policy first`, each row gets the first tier whose
mask holds (the masks applied from the last tier to the first); under `policy unique`,
a row that two tiers match is refused by the Python evaluator, in its words. Labels
are a bit a label, and each combination of bits that occurs is made a tuple once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.checker.model import CheckedRuleset, Rule
from engine.columnar.compute import Batch
from engine.columnar.inputs import read_input, records_to_columns
from engine.columnar.rows import Classify, decide_rows, python_values
from engine.columnar.vectors import Mask, Vec
from engine.python.values import ClassifyError

Columns = dict[str, npt.NDArray[np.object_]]
Codes = npt.NDArray[np.unsignedinteger[Any]] | npt.NDArray[np.intp]
OUTPUTS = ("tier", "labels", "rule", "error")


class ColumnarProgram:
    """The rules of one checked ruleset over columns; `classify` decides the rows that
    the columns leave to the Python evaluator."""

    def __init__(self, checked: CheckedRuleset, classify: Classify):
        self.checked = checked
        self.classify = classify
        rules = [r for r in checked.tiers if r.when is not None]
        fallback = next((r for r in checked.tiers if r.when is None), None)
        self.rules: tuple[Rule, ...] = tuple(rules)
        # index len(rules) is the fallback: `otherwise`, or no rule at all
        self.tier_of = _objects([*(r.tier for r in rules), fallback and fallback.tier])
        self.rule_of = _objects([*(r.name for r in rules), fallback and fallback.name])
        self.label_names = tuple(r.name for r in checked.labels)
        self.rule_objects: tuple[Rule | None, ...] = (*rules, fallback)
        self._rule_table = _objects(self.rule_objects)

    def run(self, columns: Mapping[str, Any]) -> Columns:
        """tier, labels, rule and error, each an object array with one entry a row."""
        return {name: coded.values() for name, coded in self.coded(columns).items()}

    def coded(self, columns: Mapping[str, Any]) -> dict[str, Coded]:
        """The four columns as codes into small tables, for a caller that builds Arrow or
        DataFrame columns from them without a Python object a row."""
        n = batch_length(columns)
        columns = {name: _readable(column) for name, column in columns.items()}
        chosen, labels, rows = self._decide(columns, n)
        out = {
            "tier": Coded(chosen, self.tier_of),
            "labels": labels,
            "rule": Coded(chosen.copy(), self.rule_of),
            "error": Coded(np.zeros(n, dtype=np.uint8), _objects([None])),
        }
        if len(rows):
            values = {
                name: _rows_of(columns[name], rows)
                for name in self.checked.inputs
                if name in columns
            }
            answers = decide_rows(self.classify, values, len(rows))
            for column, found in zip(OUTPUTS, zip(*answers, strict=True), strict=True):
                out[column].place(rows, found)
        return out

    def decisions(
        self,
        accounts: list[dict[str, Any]],
        make: Callable[[list[Rule | None], list[tuple[str, ...]], list[Any]], list[Any]],
        place: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """What `classify` gives for each account (a dict each), in order: `make(rules,
        labels, accounts)` makes the answers where the columns decide (a rule and labels
        a row), and `classify` itself (its Decision, or the ClassifyError it raises)
        answers the rows they leave to it; `place(row, decision)` is then called with
        each Decision `classify` made, to give it its place in the batch (its stamp)."""
        n = len(accounts)
        columns = records_to_columns(accounts, self.checked.inputs)
        chosen, labels, rows = self._decide(columns, n)
        rules = self._rule_table[chosen].tolist()
        out = make(rules, labels.values().tolist(), accounts)
        classify = self.classify
        for row in rows.tolist():
            try:
                decided = classify(accounts[row])
            except ClassifyError as error:
                out[row] = error
                continue
            if place is not None:
                place(row, decided)
            out[row] = decided
        return out

    def _decide(
        self, columns: Mapping[str, Any], n: int
    ) -> tuple[Codes, Coded, npt.NDArray[np.intp]]:
        """Each row's rule and labels as the arrays decide them, and the rows left to
        the Python evaluator."""
        inputs: dict[str, Vec] = {}
        python = np.zeros(n, dtype=np.bool_)
        for name, decl in self.checked.inputs.items():
            read = read_input(decl, columns.get(name), n)
            inputs[name] = read.vec
            python |= read.python
        with np.errstate(all="ignore"):
            batch = Batch(self.checked, inputs, n)
            chosen, conflicts = self._tiers(batch)
            labels = self._labels(batch)
        if batch.unsure is not None:
            python |= batch.unsure
        if conflicts is not None:
            python |= conflicts
        return chosen, labels, np.flatnonzero(python)

    def _tiers(self, batch: Batch) -> tuple[Codes, Mask | None]:
        """Each row's rule (an index into `rules`, len(rules) for the fallback) and, under
        `policy unique`, the rows that more than one tier matches. The codes are as
        narrow as the rules allow: a byte a row for up to 255 rules."""
        chosen = np.full(batch.n, len(self.rules), dtype=narrowest(len(self.rules)))
        masks = [batch.mask(rule.when) for rule in self.rules if rule.when is not None]
        for index in range(len(masks) - 1, -1, -1):
            chosen[masks[index]] = index
        if self.checked.policy == "first" or len(masks) < 2:
            return chosen, None
        matches = np.zeros(batch.n, dtype=np.int64)
        for mask in masks:
            matches += mask
        return chosen, matches > 1

    def _labels(self, batch: Batch) -> Coded:
        """Each row's labels as a tuple, in the order the file declares them: a code a row
        (a bit a label) into the table of the combinations that occur."""
        names = self.label_names
        if len(names) > 16:  # too many combinations for a table: tuples row by row
            masks = [batch.mask(rule.when) for rule in self.checked.labels if rule.when]
            rows = zip(*(m.tolist() for m in masks), strict=True)
            found = [tuple(n for n, hit in zip(names, r, strict=True) if hit) for r in rows]
            return Coded(np.arange(batch.n, dtype=np.intp), _objects(found))
        kind = narrowest((1 << len(names)) - 1)
        code = np.zeros(batch.n, dtype=kind)
        for bit, rule in enumerate(self.checked.labels):
            assert rule.when is not None
            code |= batch.mask(rule.when).astype(kind) << kind(bit)
        table = np.empty(1 << len(names), dtype=object)
        for combination in np.flatnonzero(np.bincount(code, minlength=len(table))):
            table[combination] = tuple(n for b, n in enumerate(names) if combination >> b & 1)
        return Coded(code, table)


@dataclass
class Coded:
    """A column as `table[codes]`: few distinct values (tier names, label combinations)
    stored once. Rows the Python evaluator decided get entries of their own."""

    codes: Codes
    table: npt.NDArray[np.object_]

    def values(self) -> npt.NDArray[np.object_]:
        if len(self.table) == 1 and self.table[0] is None:  # no errors: numpy fills with None
            return np.empty(len(self.codes), dtype=object)
        return np.asarray(self.table[self.codes])

    def place(self, rows: npt.NDArray[np.intp], values: Sequence[Any]) -> None:
        """Row rows[k] holds values[k]."""
        end = len(self.table) + len(rows)
        if end > np.iinfo(self.codes.dtype).max:
            self.codes = self.codes.astype(np.intp)
        self.codes[rows] = np.arange(len(self.table), end)
        self.table = np.concatenate([self.table, _objects(values)])


def narrowest(largest: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest unsigned integer type that holds 0 to `largest`."""
    for kind in (np.uint8, np.uint16, np.uint32):
        if largest <= np.iinfo(kind).max:
            return kind
    return np.uint64


def _objects(items: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        out[index] = item
    return out


def _readable(column: Any) -> Any:
    """A list, tuple, numpy array or Arrow array as it is; a polars Series as Arrow;
    anything else iterable as a list."""
    if isinstance(column, list | tuple | np.ndarray):
        return column
    if type(column).__module__.startswith("pyarrow"):
        return column
    if type(column).__module__.startswith("polars"):
        return column.to_arrow()
    return list(column)


def _rows_of(column: Any, rows: npt.NDArray[np.intp]) -> Sequence[Any]:
    """The values of some rows of a column, as Python reads them."""
    if type(column).__module__.startswith("pyarrow"):
        return column.take(rows).to_pylist()  # type: ignore[no-any-return]
    if isinstance(column, np.ndarray) and column.ndim == 1:
        return python_values(column[rows])
    return [column[row] for row in rows.tolist()]


def batch_length(columns: Mapping[str, Any]) -> int:
    """The number of rows: every column must have it (ValueError naming those that do not)."""
    if not isinstance(columns, Mapping):
        kind = type(columns).__name__
        raise TypeError(f"columns must be a mapping of input name to column, not {kind}")
    lengths = {name: len(column) for name, column in columns.items()}
    if not lengths:
        return 0
    n = max(lengths.values())
    short = sorted(name for name, size in lengths.items() if size != n)
    if short:
        sizes = ", ".join(f"{name} has {lengths[name]:,}" for name in short)
        raise ValueError(f"every column must have the same number of rows ({n:,}): {sizes}")
    return n
