"""Several rulesets over the same rows in one pass: how often each combination
of their outcomes occurs, with example accounts for each, drawn in that pass.

In: checked rulesets and files. Out: a `Joint`: for each combination of
outcomes that occurs (a row's tier under each ruleset, `""` for no tier,
`"(error)"` for a row the ruleset refuses; with `labels`, also its labels
under each) the number of rows, and up to `examples` of them. The examples
of a cell are its rows with the smallest hash of their id: a sample spread
over the whole file, and the same one in every run. The rows are read once
and never leave DuckDB; only the cells do, so a 10 M-row table costs one
scan and a GROUP BY of a few hundred groups.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from engine.checker.model import CheckedRuleset, Input
from engine.language.ast import TypeName
from engine.sql.compile import result_columns
from engine.sql.layers import PREFIX, Columns
from tierline.tables.cells import quoted
from tierline.tables.read import (
    Staged,
    inputs_of,
    readable,
    required_by,
    serially_if_needed,
    stage,
)

REFUSED = "(error)"  # never a tier's name: tier names are identifiers


@dataclass(frozen=True)
class Example:
    """One row: its id, its inputs as the Python API takes them (an input the row
    does not give is absent) and, for each ruleset, its error (None: classified)."""

    id: Any
    account: dict[str, Any]
    errors: tuple[str | None, ...]
    order: int  # the hash that drew it; examples of merged cells sort by it
    labels: tuple[tuple[str, ...], ...] = ()  # per ruleset, when labels were asked for


@dataclass(frozen=True)
class Cell:
    outcomes: tuple[str, ...]  # per ruleset: the tier, "" for none, REFUSED
    labels: tuple[tuple[str, ...], ...]  # per ruleset (empty when not asked for)
    count: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Joint:
    rows: int
    cells: list[Cell]
    id_name: str  # the id column's name, or "row" (the 1-based row number)
    seconds: float


def joint(
    rulesets: list[CheckedRuleset],
    inputs: list[str],
    mapping: Mapping[str, str] | None = None,
    id_column: str | None = None,
    examples: int = 3,
    labels: bool = False,
    progress: bool = False,
) -> Joint:
    """Classify the files under every ruleset at once and count the outcomes."""
    started = time.perf_counter()
    declared = inputs_of(rulesets)
    with readable(inputs) as (paths, kind):

        def run(parallel: bool) -> Joint:
            connection = duckdb.connect()
            connection.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")
            staged = stage(connection, declared, paths, kind, dict(mapping or {}), id_column,
                           parallel, required_by(rulesets))  # fmt: skip
            return joint_staged(connection, rulesets, declared, staged, examples, labels)

        found = serially_if_needed(run)
    return Joint(found.rows, found.cells, found.id_name, time.perf_counter() - started)


def joint_staged(
    connection: duckdb.DuckDBPyConnection,
    rulesets: list[CheckedRuleset],
    declared: Mapping[str, Input],
    staged: Staged,
    examples: int = 3,
    labels: bool = False,
) -> Joint:
    """`joint` over rows already staged (`read.stage`): the studio stages a sample once,
    as a table, and counts every edit's outcomes over it without reading the file again.
    `declared` must be what the rows were staged with (`read.inputs_of`)."""
    started = time.perf_counter()
    query = _query(
        rulesets, declared, staged.sql, staged.columns, staged.unreadable, examples, labels
    )
    found = connection.sql(query).fetchall()
    cells = [cell(row, len(rulesets), labels, declared) for row in found]
    rows = sum(c.count for c in cells)
    return Joint(rows, cells, staged.id_name, time.perf_counter() - started)


def _query(
    rulesets: list[CheckedRuleset],
    declared: Mapping[str, Input],
    staged: str,
    columns: Mapping[str, str],
    unreadable: Mapping[str, str],
    examples: int,
    labels: bool,
) -> str:
    sides = ["__id", "hash(__id) AS __h"]
    sides += [f"{quoted(column)} AS {quoted('__v_' + name)}" for name, column in columns.items()]
    outcomes, keys, errors = [], [], []
    layers: list[str] = []  # CTEs of helper columns, each over the one before
    for i, checked in enumerate(rulesets):
        added = _columns_of(checked, columns, unreadable, f"{PREFIX}{i}_")
        for layer in added.layers:  # each ruleset's lets, once per row (engine/sql/layers.py)
            helpers = ", ".join(f"{sql} AS {quoted(name)}" for name, sql in layer.items())
            below = f"__layer{len(layers) - 1}" if layers else "__staged"
            layers.append(f"__layer{len(layers)} AS (SELECT *, {helpers} FROM {below})")
        results = added.results
        sides += [f"{results[name]} AS __{name}_{i}" for name in ("tier", "labels", "error")]
        outcomes.append(
            f"CASE WHEN __error_{i} IS NOT NULL THEN '{REFUSED}' "
            f"ELSE coalesce(__tier_{i}, '') END AS __o{i}"
        )
        if labels:
            keys.append(f"coalesce(__labels_{i}, []) AS __l{i}")
        errors.append(f"e{i} := __error_{i}")
    values = ", ".join(f"{quoted(name)} := {quoted('__v_' + name)}" for name in declared)
    account = f"struct_pack({values})" if values else "NULL"
    aggregates = ["count(*) AS __n"]
    if examples > 0:
        drawn = f"struct_pack(id := __id, h := __h, account := {account}, {', '.join(errors)})"
        aggregates.append(f"min_by({drawn}, __h, {int(examples)}) AS __examples")
    ctes = [f"__staged AS ({staged})", *layers]
    rows = f"__layer{len(layers) - 1}" if layers else "__staged"
    return (
        f"WITH {', '.join(ctes)}, __sides AS (SELECT {', '.join(sides)} FROM {rows}) "
        f"SELECT {', '.join(outcomes + keys + aggregates)} FROM __sides GROUP BY ALL"
    )


_COMPILED: OrderedDict[tuple[Any, ...], Columns] = OrderedDict()
_COMPILED_KEPT = 64
_COMPILING = threading.Lock()


def _columns_of(
    checked: CheckedRuleset, columns: Mapping[str, str], unreadable: Mapping[str, str], prefix: str
) -> Columns:
    """`result_columns` on DuckDB, kept by the source's digest: the studio counts every
    keystroke against the saved file, whose SQL (a tenth of a second of sqlglot) is the
    same each time. The same digest and name check to the same rules."""
    key = (checked.digest, checked.name, tuple(columns.items()), tuple(unreadable.items()), prefix)
    with _COMPILING:
        found = _COMPILED.get(key)
        if found is not None:
            _COMPILED.move_to_end(key)
            return found
    found = result_columns(checked, "duckdb", columns, unreadable, prefix=prefix)
    with _COMPILING:
        _COMPILED[key] = found
        while len(_COMPILED) > _COMPILED_KEPT:
            _COMPILED.popitem(last=False)
    return found


def cell(row: tuple[Any, ...], n: int, labels: bool, declared: Mapping[str, Input]) -> Cell:
    outcomes = tuple(row[:n])
    label_sets = tuple(tuple(x) for x in row[n : 2 * n]) if labels else ()
    rest = row[2 * n :] if labels else row[n:]
    count = rest[0]
    drawn = rest[1] if len(rest) > 1 else []
    examples = tuple(_example(d, n, declared, label_sets) for d in drawn)
    return Cell(outcomes, label_sets, count, examples)


def _example(
    drawn: dict[str, Any],
    n: int,
    declared: Mapping[str, Input],
    labels: tuple[tuple[str, ...], ...],
) -> Example:
    account: dict[str, Any] = {}
    for name, value in (drawn["account"] or {}).items():
        if value is not None:
            account[name] = as_python(declared[name].type, value)
    errors = tuple(drawn[f"e{i}"] for i in range(n))
    return Example(drawn["id"], account, errors, drawn["h"], labels)


def as_python(type_: TypeName, value: Any) -> Any:
    """A staged value as the Python API takes it: a count read from a text cell
    is a double in SQL (`3.3k`), an int here."""
    if isinstance(value, Decimal):  # a DECIMAL column of a Parquet file
        value = (
            int(value) if type_ is TypeName.COUNT and value == value.to_integral() else float(value)
        )
    if type_ is TypeName.COUNT and isinstance(value, float) and value.is_integer():
        return int(value)
    if type_ is TypeName.TEXT_SET:
        return list(value)
    return value
