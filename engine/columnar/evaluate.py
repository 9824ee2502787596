"""Classify a batch of accounts given as columns: the columnar stage's entry point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.checker.model import CheckedRuleset
from engine.columnar.rows import Classify, decide_rows, python_values

Columns = dict[str, npt.NDArray[np.object_]]
OUTPUTS = ("tier", "labels", "rule", "error")


class ColumnarProgram:
    """The rules of one checked ruleset over columns; `classify` decides the rows that
    the columns leave to the Python evaluator, and is the reference for the rest."""

    def __init__(self, checked: CheckedRuleset, classify: Classify):
        self.checked = checked
        self.classify = classify

    def run(self, columns: Mapping[str, Any]) -> Columns:
        """tier, labels, rule and error, each an object array with one entry a row."""
        n = batch_length(columns)
        values = {
            name: python_values(columns[name]) for name in self.checked.inputs if name in columns
        }
        out = {name: np.empty(n, dtype=object) for name in OUTPUTS}
        decide_rows(self.classify, values, range(n), out)
        return out


def batch_length(columns: Mapping[str, Any]) -> int:
    """The number of rows: every column must have it (ValueError naming those that do not)."""
    if not isinstance(columns, Mapping):
        raise TypeError(
            f"columns must be a mapping of input name to column, not {type(columns).__name__}"
        )
    lengths = {name: len(column) for name, column in columns.items()}
    if not lengths:
        return 0
    n = max(lengths.values())
    short = sorted(name for name, size in lengths.items() if size != n)
    if short:
        sizes = ", ".join(f"{name} has {lengths[name]:,}" for name in short)
        raise ValueError(f"every column must have the same number of rows ({n:,}): {sizes}")
    return n
