"""One description of what a run does to a table, whatever engine runs it.

DuckDB (`read.py`, `joint.py`, `classify.py`) and Spark (`spark.py`) stage the files
the same way and pass several rulesets over them the same way; this module says what
that is, once, as SQL expressions in the engine's dialect over hidden column names,
and each engine's module only says how to run it (a DuckDB query, DataFrame calls).

- **Staging** (`plan_stage`): the source's own columns, then for each input its
  value as the input's type (`__in_<input>`) and, where a cell can hold something
  no reading fits, that cell as written (`__bad_<input>`), which the rules' SQL
  turns into the row's error; the id (`__id`: the `--id` column, else the row
  number in file order). In a text file (CSV, TSV, text) every cell is read by
  `cells.py`, and a row that is a line drawn under the header is left out.
- **Joint pass** (`plan_joint`): for each row, its id and a hash of it (`__h`),
  each input's value (`__v_<input>`), and under each ruleset i its tier, labels and
  error (`__tier_i`, `__labels_i`, `__error_i`, after that ruleset's lets, each a
  helper column computed once per row); then the row's outcome under each ruleset
  (`__o{i}`: the tier, `""` for none, `REFUSED`) and, when asked, its labels
  (`__l{i}`). Rows are grouped by those keys and counted (`__n`), and each group
  keeps the `examples` rows with the smallest hash (`__examples`: id, hash, the
  account, each ruleset's error as `e{i}`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.checker.model import CheckedRuleset, Input
from engine.sql.compile import result_columns
from engine.sql.layers import PREFIX, Columns
from tierline.tables import cells
from tierline.tables.columns import match_columns

REFUSED = "(error)"  # never a tier's name: tier names are identifiers
TEXT_KINDS = ("csv", "tsv", "text")  # files whose every cell is read as text

ID = "__id"
HASH = "__h"
COUNT = "__n"
EXAMPLES = "__examples"
_HASHES = {"duckdb": "hash", "spark": "xxhash64"}  # each engine's 64-bit hash of a value
_EMPTY_LIST = {"duckdb": "[]", "spark": "array()"}


def value_column(name: str) -> str:
    """The staged column of input `name` read as its type."""
    return "__in_" + name


def bad_column(name: str) -> str:
    """The staged column of input `name`'s cells that no reading fits (else NULL)."""
    return "__bad_" + name


def quoted(name: str, dialect: str) -> str:
    """A column name as `dialect` quotes it."""
    if dialect == "spark":
        return "`" + name.replace("`", "``") + "`"
    return cells.quoted(name)


# ------------------------------------------------------------------- staging

# How an engine reads a column that is not text, for an input: (the value as the
# input's type, the cell where it is not one, or None). Text cells are cells.read's.
ReadColumn = Callable[[Input, str], tuple[str, str | None]]


@dataclass(frozen=True)
class StagePlan:
    """The staged table: `selected` (SQL AS name, after the source's own columns),
    the rows kept (`keep`, or None for all), and where the id comes from."""

    dialect: str
    selected: list[tuple[str, str]]  # (SQL in the dialect, the staged column's name)
    columns: dict[str, str]  # input -> its staged column
    unreadable: dict[str, str]  # input -> its staged column of unreadable cells
    keep: str | None  # the condition a row must meet (not a drawn line), or None
    id_column: str | None  # the --id column (or `id`), None: number the rows in file order
    id_name: str  # the output's id column: the id column's name, or "row"
    names: list[str]  # the source's columns, for --keep-columns


def plan_stage(
    dialect: str,
    inputs: Mapping[str, Input],
    names: list[str],
    kind: str,
    mapping: Mapping[str, str],
    id_column: str | None,
    read_column: ReadColumn,
    needed_by: Mapping[str, Sequence[CheckedRuleset]] | None = None,
) -> StagePlan:
    """How files of `kind` with the columns `names` are staged for `inputs`;
    TableError (from `match_columns`) for what cannot be matched."""
    found, id_name = match_columns(inputs, names, mapping, id_column, needed_by)
    text = kind in TEXT_KINDS
    selected: list[tuple[str, str]] = []
    columns: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for name, decl in inputs.items():
        read = [_read(decl, column, dialect, text, read_column) for column in found[name]]
        values = [value for value, _bad in read]
        bads = [bad for _value, bad in read if bad is not None]
        if not values:
            value = "NULL"
        elif len(values) == 1:
            value = values[0]
        else:
            value = cells.union(values, dialect)
        selected.append((value, value_column(name)))
        columns[name] = value_column(name)
        if bads:
            bad = bads[0] if len(bads) == 1 else f"coalesce({', '.join(bads)})"
            selected.append((bad, bad_column(name)))
            unreadable[name] = bad_column(name)
    keep = None
    if text and names:
        others = " AND ".join(f"{quoted(n, dialect)} IS NULL" for n in names[1:]) or "true"
        keep = f"NOT ({cells.drawn(names[0], dialect)} AND {others})"
    found_id = None if id_name == "row" else id_name
    return StagePlan(dialect, selected, columns, unreadable, keep, found_id, id_name, names)


def _read(
    decl: Input, column: str, dialect: str, text: bool, read_column: ReadColumn
) -> tuple[str, str | None]:
    if not text:
        return read_column(decl, column)
    value, bad = cells.read(decl.type, column, dialect)
    return value, None if bad == "NULL" else bad


# ---------------------------------------------------------------- joint pass


@dataclass(frozen=True)
class JointPlan:
    """One pass of several rulesets over a staged table: add each ruleset's `layers`
    (helper columns, in order), select `sides` (SQL AS name), then `keys` over them;
    group by the keys' names, count, and draw examples of `account` and `errors`."""

    layers: list[dict[str, str]]  # helper name -> SQL, each layer over the ones before
    sides: list[tuple[str, str]]
    keys: list[tuple[str, str]]  # the outcomes (`__o{i}`), then the labels (`__l{i}`)
    account: list[tuple[str, str]]  # (input, its side's name) of the examples' accounts
    errors: list[tuple[str, str]]  # (e{i}, its side's name) of the examples' errors
    examples: int  # examples a group keeps: those of the smallest hash

    @property
    def groups(self) -> list[str]:
        return [name for _sql, name in self.keys]


RESULTS = ("tier", "labels", "error")  # what a joint pass reads of each ruleset


def result_column(name: str, i: int) -> str:
    """The side of ruleset `i`'s result `name` (one of `RESULTS`) in a joint pass."""
    return f"__{name}_{i}"


def plan_joint(
    dialect: str,
    rulesets: Sequence[CheckedRuleset],
    declared: Mapping[str, Input],
    staged: StagePlan,
    examples: int,
    labels: bool,
    kept: Collection[int] = (),
) -> JointPlan:
    """The joint pass of `rulesets` over the table `staged` describes. The rulesets at
    the indexes `kept` are not computed: the staged rows already hold their tier,
    labels and error as the columns `result_column` names (the studio computes the
    saved file's once and counts every keystroke's edit against them)."""
    layers: list[dict[str, str]] = []
    sides = [(ID, ID), (f"{_HASHES[dialect]}({ID})", HASH)]
    sides += [(quoted(column, dialect), "__v_" + name) for name, column in staged.columns.items()]
    outcomes: list[tuple[str, str]] = []
    label_keys: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    for i, checked in enumerate(rulesets):
        if i in kept:
            sides += [(quoted(result_column(name, i), dialect), result_column(name, i))
                      for name in RESULTS]  # fmt: skip
        else:
            added = _columns_of(checked, dialect, staged.columns, staged.unreadable,
                                f"{PREFIX}{i}_")  # fmt: skip
            layers += added.layers  # each ruleset's lets, once per row (engine/sql/layers.py)
            sides += [(added.results[name], result_column(name, i)) for name in RESULTS]
        outcomes.append(
            (
                f"CASE WHEN __error_{i} IS NOT NULL THEN '{REFUSED}' "
                f"ELSE coalesce(__tier_{i}, '') END",
                f"__o{i}",
            )
        )
        if labels:
            label_keys.append((f"coalesce(__labels_{i}, {_EMPTY_LIST[dialect]})", f"__l{i}"))
        errors.append((f"e{i}", f"__error_{i}"))
    account = [(name, "__v_" + name) for name in declared]
    return JointPlan(layers, sides, outcomes + label_keys, account, errors, examples)


_COMPILED: OrderedDict[tuple[Any, ...], Columns] = OrderedDict()
_COMPILED_KEPT = 64
_COMPILING = threading.Lock()


def _columns_of(
    checked: CheckedRuleset,
    dialect: str,
    columns: Mapping[str, str],
    unreadable: Mapping[str, str],
    prefix: str,
) -> Columns:
    """`result_columns`, kept by the source's digest: the studio counts every keystroke
    against the saved file, whose SQL (a tenth of a second of sqlglot) is the same each
    time. The same digest and name check to the same rules."""
    key = (checked.digest, checked.name, dialect, tuple(columns.items()),
           tuple(unreadable.items()), prefix)  # fmt: skip
    with _COMPILING:
        found = _COMPILED.get(key)
        if found is not None:
            _COMPILED.move_to_end(key)
            return found
    found = result_columns(checked, dialect, columns, unreadable, prefix=prefix)
    with _COMPILING:
        _COMPILED[key] = found
        while len(_COMPILED) > _COMPILED_KEPT:
            _COMPILED.popitem(last=False)
    return found
