"""Lets computed once per row: the query as layers of helper columns.

A let read at several places was written out at each of them, so a chain of
lets that each read the one before twice doubled (tripled, with `l * 2 + l`)
the SQL with every let: twelve lets gave 3.5 MB and 14 s of compiling. Here
each let is one helper column, computed in the layer of its dependency depth
(a let that reads only inputs in the first, a let that reads it in the next),
and read by name wherever it is used, so the query grows with the number of
lets, not with the number of their expansions.

Ahead of the lets, the first layer holds whether the row is refused (a bad
input): each let is NULL on such a row, whose tier, labels and rule are NULL
anyway. The row's cells are not checked when a let is computed (a count of
1e300, or of 2^62 where its range says at most 1,000), and a DECIMAL overflow,
or PostgreSQL's refusal of a double that overflows, would fail the whole
query, where the value written out inside the CASE that refuses the row was
never computed.

`tierline sql` still returns one SELECT with every column of the table and
the four the rules add, without the helpers. How each dialect drops them:

- duckdb, snowflake, bigquery: a chain of CTEs, each adding a layer to `*`,
  and `* EXCLUDE (…)` (BigQuery: `* EXCEPT`) at the end. CTEs, not nested
  subqueries, so the printed query is indented once, not once per layer.
- spark: `CROSS JOIN LATERAL (SELECT …)` per layer and `row.*` of the table's
  alias: lateral subqueries run on every Spark from 3.2 (the spark extra takes
  3.5 and later), and Spark turns them into projections that keep a column
  read twice as one column.
- postgres: CTEs that carry the table's row as one composite value, expanded
  at the end with `(lN.row).*`; each is fenced with `OFFSET 0`, without which
  the planner inlines the CTEs, pulls them up and writes each let out at every
  use again: for 20 lets over 100,000 rows the fenced query took 3 s, the
  unfenced one ran 9 minutes and lost its server. Lateral joins there were ten
  times slower than the composite row in a first measurement.

An API that adds columns to a table instead of running a query (PySpark's
`F.expr`, the joint pass of several rulesets) takes the same layers as
`Columns`: add each layer in turn, then the results, then drop the helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from engine.checker.model import CheckedRuleset, Let, Level, names_in

PREFIX = "__tierline_"  # every helper column and alias starts with it

Layer = list[tuple[str, exp.Expr]]  # helper column name, its value


@dataclass(frozen=True)
class Columns:
    """The rules' columns as SQL expressions (`result_columns`). Add `layers` to
    the table one after the other (each reads the table's columns and the layers
    before it), then `results` (tier, labels, rule, error), then drop `helpers`."""

    layers: tuple[dict[str, str], ...]
    results: dict[str, str]

    @property
    def helpers(self) -> list[str]:
        return [name for layer in self.layers for name in layer]


def depths(checked: CheckedRuleset) -> dict[str, int]:
    """Each let's dependency depth: 1 for a let that reads only inputs, one more
    than the deepest let it reads otherwise (through a level, that level's source)."""
    found: dict[str, int] = {}
    derived = {item.name: item for item in checked.derived}

    def depth(name: str) -> int:
        item = derived.get(name)
        if isinstance(item, Level):
            return depth(item.source)
        return found.get(name, 0)  # an input: 0; a let: known, in dependency order

    for item in checked.derived:
        if isinstance(item, Let):
            found[item.name] = 1 + max((depth(n) for n in names_in(item.expr)), default=0)
    return found


def query(
    dialect: str, table: str, layers: Sequence[Layer], results: dict[str, exp.Expr]
) -> exp.Select:
    """One SELECT of every column of `table` and `results`, after `layers`."""
    source = exp.to_table(table, dialect=dialect)
    added = [exp.alias_(value, name) for name, value in results.items()]
    if not layers:
        return exp.select(exp.Star(), *added, copy=False).from_(source, copy=False)
    if dialect == "postgres":
        return _composite(source, layers, added)
    if dialect == "spark":
        return _lateral(source, layers, added)
    return _excluded(source, layers, added)


def _helpers(layer: Layer) -> list[exp.Expr]:
    """A layer's columns. The builders here never copy (copy=False): copying the
    query so far at each layer made compiling quadratic in the number of lets."""
    return [exp.alias_(value, name, quoted=True, copy=False) for name, value in layer]


def _excluded(source: exp.Table, layers: Sequence[Layer], added: list[exp.Expr]) -> exp.Select:
    """`WITH l0 AS (SELECT *, layer FROM table), l1 AS (SELECT *, layer FROM l0) …
    SELECT * EXCLUDE (helpers), results FROM lN`."""
    helpers = [exp.column(name, quoted=True) for layer in layers for name, _value in layer]
    select = exp.select(exp.Star(except_=helpers), *added, copy=False)
    below: exp.Table = source
    for n, layer in enumerate(layers):
        step = exp.select(exp.Star(), *_helpers(layer), copy=False).from_(below, copy=False)
        below = _layer(select, n, step)
    return select.from_(below, copy=False)


def _layer(select: exp.Select, n: int, step: exp.Select) -> exp.Table:
    """`step` as the query's CTE number n, and that CTE as a table to read. CTEs, not
    nested subqueries, so the pretty-printed query is indented once, not once per layer."""
    name = exp.to_identifier(f"{PREFIX}{n}")
    select.with_(exp.TableAlias(this=name), as_=step, copy=False)
    return exp.Table(this=name.copy())


def _lateral(source: exp.Table, layers: Sequence[Layer], added: list[exp.Expr]) -> exp.Select:
    """`SELECT row.*, results FROM table AS row CROSS JOIN LATERAL (SELECT layer) …`."""
    row = exp.to_identifier(PREFIX + "row")
    select = exp.select(exp.Column(this=exp.Star(), table=row.copy()), *added, copy=False)
    select = select.from_(source.as_(row.copy(), copy=False), copy=False)
    for n, layer in enumerate(layers):
        lateral = exp.Lateral(
            this=exp.select(*_helpers(layer), copy=False).subquery(copy=False),
            alias=exp.TableAlias(this=exp.to_identifier(f"{PREFIX}{n}")),
        )
        select.append("joins", exp.Join(this=lateral, kind="CROSS"))
    return select


def _composite(source: exp.Table, layers: Sequence[Layer], added: list[exp.Expr]) -> exp.Select:
    """`WITH l0 AS (SELECT t AS row, t.*, layer FROM table AS t OFFSET 0), l1 AS (SELECT *,
    layer FROM l0 OFFSET 0) … SELECT (lN.row).*, results FROM lN`."""
    table, row = exp.to_identifier(PREFIX + "t", quoted=True), PREFIX + "row"
    select = exp.select(copy=False)
    below = source.as_(table.copy(), copy=False)
    carried = [
        exp.alias_(exp.column(table.copy()), row, quoted=True),
        exp.Column(this=exp.Star(), table=table.copy()),
    ]
    for n, layer in enumerate(layers):
        step = exp.select(*(carried if n == 0 else [exp.Star()]), *_helpers(layer), copy=False)
        below = _layer(select, n, step.from_(below, copy=False).offset(0, copy=False))
    whole_row = exp.column(row, table=below.name, quoted=True)
    expanded = exp.Dot(this=exp.Paren(this=whole_row), expression=exp.Star())
    return select.select(expanded, *added, copy=False).from_(below, copy=False)
