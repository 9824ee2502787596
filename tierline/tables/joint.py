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

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from engine.checker.model import CheckedRuleset, Input
from engine.language.ast import TypeName
from tierline.tables.cells import quoted
from tierline.tables.columns import inputs_of, required_by
from tierline.tables.plan import (
    COUNT,
    EXAMPLES,
    HASH,
    ID,
    REFUSED,
    RESULTS,
    JointPlan,
    plan_joint,
    result_column,
)
from tierline.tables.read import Staged, readable, serially_if_needed, stage

__all__ = ["REFUSED", "Cell", "Example", "Joint", "cell", "joint", "joint_staged", "keep_results"]


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
    kept: Collection[int] = (),
) -> Joint:
    """`joint` over rows already staged (`read.stage`): the studio stages a sample once,
    as a table, and counts every edit's outcomes over it without reading the file again.
    `declared` must be what the rows were staged with (`read.inputs_of`). The rulesets
    at the indexes `kept` are read from the rows (`keep_results`), not computed."""
    started = time.perf_counter()
    plan = plan_joint("duckdb", rulesets, declared, staged.plan, examples, labels, kept)
    # `execute`, not `sql`: no relation is built around a query run once (a fifth of
    # the time of the studio's impact query)
    found = connection.execute(_query(plan, staged.sql)).fetchall()
    cells = [cell(row, len(rulesets), labels, declared) for row in found]
    rows = sum(c.count for c in cells)
    return Joint(rows, cells, staged.id_name, time.perf_counter() - started)


def keep_results(
    connection: duckdb.DuckDBPyConnection,
    ruleset: CheckedRuleset,
    declared: Mapping[str, Input],
    staged: Staged,
    table: str,
) -> Staged:
    """The staged rows with `ruleset`'s tier, labels and error added as columns, made
    once into the table `table`: a later `joint_staged(..., kept=[0])` with `ruleset`
    first reads them instead of computing them on every row again. The studio counts
    every keystroke's edit against the same saved file: its side of the pass is then
    done once per saved version, not once per keystroke."""
    plan = plan_joint("duckdb", [ruleset], declared, staged.plan, 0, True)
    ctes, rows = _layered(plan, staged.sql)
    own = connection.sql(f"SELECT * FROM ({staged.sql}) LIMIT 0").columns
    results = {result_column(name, 0) for name in RESULTS}
    selected = [quoted(column) for column in own] + [
        f"{sql} AS {quoted(name)}" for sql, name in plan.sides if name in results
    ]
    connection.execute(
        f"CREATE OR REPLACE TABLE {quoted(table)} AS WITH {', '.join(ctes)} "
        f"SELECT {', '.join(selected)} FROM {rows}"
    )
    return Staged(f"SELECT * FROM {quoted(table)}", staged.plan)


def _layered(plan: JointPlan, staged: str) -> tuple[list[str], str]:
    """The CTEs that add the layers of helper columns of `plan` to the staged rows, and
    the name of the last (the rows with every helper)."""
    ctes, rows = [f"__staged AS ({staged})"], "__staged"
    for n, layer in enumerate(plan.layers):
        helpers = ", ".join(f"{sql} AS {quoted(name)}" for name, sql in layer.items())
        ctes.append(f"__layer{n} AS (SELECT *, {helpers} FROM {rows})")
        rows = f"__layer{n}"
    return ctes, rows


def _query(plan: JointPlan, staged: str) -> str:
    """The joint pass `plan` describes, as one DuckDB query over the staged rows: a
    CTE for each layer of helper columns, then the sides, grouped by the keys; each
    group's examples are the rows of the smallest hash (`min_by`)."""
    ctes, rows = _layered(plan, staged)
    sides = ", ".join(f"{sql} AS {quoted(name)}" for sql, name in plan.sides)
    keys = [f"{sql} AS {name}" for sql, name in plan.keys]
    aggregates = [f"count(*) AS {COUNT}"]
    if plan.examples > 0:
        values = ", ".join(f"{quoted(name)} := {quoted(side)}" for name, side in plan.account)
        account = f"struct_pack({values})" if values else "NULL"
        errors = ", ".join(f"{name} := {side}" for name, side in plan.errors)
        drawn = f"struct_pack(id := {ID}, h := {HASH}, account := {account}, {errors})"
        aggregates.append(f"min_by({drawn}, {HASH}, {int(plan.examples)}) AS {EXAMPLES}")
    return (
        f"WITH {', '.join(ctes)}, __sides AS (SELECT {sides} FROM {rows}) "
        f"SELECT {', '.join(keys + aggregates)} FROM __sides GROUP BY ALL"
    )


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
