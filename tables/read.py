"""Files as DuckDB tables, and their cells as the values the rules declare.

Exports are messy: CSV cells hold `475.8m`, `3.3k`, `1.39%` and `12,000`; a
text export draws a line of `=` under its header; headers repeat or carry
spaces and newlines. So CSV and text files are read with every cell as text
and each input's cell is read here, in SQL, as its type:
- numbers: thousands separators (`,` `_`, spaces) are dropped, `k`, `m`, `b`
  multiply (exactly: in decimals, so `475.8m` is the count 475,800,000) and
  `%` divides by 100; a cell that is none of these is refused by the rules
  with what it said;
- flags: true/false, yes/no, 1/0; sets: `a;b` or a JSON array, an empty cell
  an empty set;
- a row whose first cell is only `=`, `-` or `+` and whose other cells are
  empty is a drawing, not a row, and is left out.
Parquet and JSON-lines columns keep their own types. Column names: DuckDB
names a repeated header `name_1`, `name_2`; `--map` and `--id` find a column
by its name with runs of spaces and newlines read as one space, trimmed.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from engine.checker.model import CheckedRuleset, Input
from engine.language.ast import TypeName

T = TypeName
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip
# A text cell as a number, exactly as the language reads `475.8m` and `1.39%`.
_MACROS = """
CREATE OR REPLACE TEMP MACRO tl_clean(s) AS
    lower(replace(replace(replace(trim(s), ',', ''), '_', ''), ' ', ''));
CREATE OR REPLACE TEMP MACRO tl_scaled(t) AS CASE
    WHEN t = '' THEN NULL
    WHEN right(t, 1) = '%' THEN CAST(TRY_CAST(t[:-2] AS DECIMAL(38, 10)) / 100 AS DOUBLE)
    WHEN right(t, 1) = 'k' THEN CAST(TRY_CAST(t[:-2] AS DECIMAL(38, 10)) * 1000 AS DOUBLE)
    WHEN right(t, 1) = 'm' THEN CAST(TRY_CAST(t[:-2] AS DECIMAL(38, 10)) * 1000000 AS DOUBLE)
    WHEN right(t, 1) = 'b' THEN CAST(TRY_CAST(t[:-2] AS DECIMAL(38, 10)) * 1000000000 AS DOUBLE)
    ELSE TRY_CAST(t AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO tl_number(s) AS tl_scaled(tl_clean(s));
"""


class TableError(Exception):
    """The files or their columns cannot be classified as asked (a usage error)."""


@dataclass(frozen=True)
class Staged:
    """A SELECT over the files with each input read as its type (`__in_<name>`), the
    cell that could not be (`__bad_<name>`), the id (`__id`) and the row (`__row`)."""

    sql: str
    columns: dict[str, str]  # input -> staged column
    unreadable: dict[str, str]  # input -> staged column of unreadable cells
    id_name: str  # the output's id column: the --id column's name, or "row"
    kept: list[str]  # the source's columns, for --keep-columns


def files(patterns: list[str]) -> tuple[list[str], str]:
    """The files the patterns name (globs expanded), and their one format."""
    found: list[str] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched:
            raise TableError(f"{pattern}: no file matches")
        for path in matched:
            if not Path(path).is_file():
                raise TableError(f"{path}: no such file")
        found += matched
    kinds = {FORMATS.get(Path(p).suffix.lower()) for p in found}
    if None in kinds:
        bad = next(p for p in found if Path(p).suffix.lower() not in FORMATS)
        raise TableError(
            f"{bad}: cannot tell the format from the extension; use one of "
            + ", ".join(sorted(FORMATS))
        )
    if len(kinds) > 1:
        raise TableError("the inputs mix formats: " + ", ".join(sorted(k for k in kinds if k)))
    return found, next(k for k in kinds if k)


def source(paths: list[str], kind: str) -> str:
    """The DuckDB table function that reads the files."""
    listed = "[" + ", ".join(_string(p) for p in paths) + "]"
    if kind == "parquet":
        return f"read_parquet({listed})"
    if kind == "json":
        return f"read_json({listed}, format = 'newline_delimited')"
    delim = ", delim = '\t'" if kind == "tsv" else ""
    return (
        f"read_csv({listed}, header = true, all_varchar = true, null_padding = true, "
        f"strict_mode = false{delim})"
    )


def stage(
    connection: duckdb.DuckDBPyConnection,
    checked: CheckedRuleset,
    paths: list[str],
    kind: str,
    mapping: dict[str, str],
    id_column: str | None,
) -> Staged:
    connection.execute(_MACROS)
    reader = source(paths, kind)
    described = connection.sql(f"SELECT * FROM {reader} LIMIT 0")
    types = dict(zip(described.columns, (str(t) for t in described.types), strict=True))
    names = list(types)
    unknown = sorted(set(mapping) - set(checked.inputs))
    if unknown:
        raise TableError(
            f"--map names {', '.join(unknown)}, which the rules do not declare "
            f"(inputs: {', '.join(checked.inputs)})"
        )
    selected = ["__src.*"]
    columns: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for name, decl in checked.inputs.items():
        column = _find(names, mapping.get(name, name), name in mapping)
        if column is None:
            if not decl.optional:
                raise TableError(
                    f"no column for the input {name}: the files have {_listing(names)}; "
                    f"use --map {name}=COLUMN"
                )
            selected.append(f"NULL AS {_quoted('__in_' + name)}")
        else:
            value, bad = _read(decl, _quoted(column), types[column])
            selected.append(f"{value} AS {_quoted('__in_' + name)}")
            if bad is not None:
                selected.append(f"{bad} AS {_quoted('__bad_' + name)}")
                unreadable[name] = "__bad_" + name
        columns[name] = "__in_" + name
    wanted = id_column or "id"
    found_id = _find(names, wanted, id_column is not None)
    if id_column is not None and found_id is None:
        raise TableError(f"--id {id_column}: no such column; the files have {_listing(names)}")
    id_name = found_id or "row"
    selected.append(f"{_quoted(found_id)} AS __id" if found_id else "row_number() OVER () AS __id")
    where = ""
    if kind in ("csv", "tsv", "text") and names:
        others = " AND ".join(f"{_quoted(n)} IS NULL" for n in names[1:]) or "true"
        drawn = f"regexp_full_match(coalesce({_quoted(names[0])}, ''), '[=+-]{{3,}}')"
        where = f" WHERE NOT ({drawn} AND {others})"
    sql = f"SELECT {', '.join(selected)} FROM {reader} AS __src{where}"
    return Staged(sql, columns, unreadable, id_name, names)


def _read(decl: Input, column: str, sql_type: str) -> tuple[str, str | None]:
    """(the value as the input's type, the cell where it is not one, or None)."""
    base = sql_type.split("(")[0]
    text = base == "VARCHAR"
    numeric = base in _NUMERIC
    if decl.type in (T.COUNT, T.NUMBER, T.PERCENT):
        if numeric:
            return column, None
        if text:
            written = f"nullif(trim({column}), '') IS NOT NULL"
            bad = f"CASE WHEN {written} AND tl_number({column}) IS NULL THEN {column} END"
            return f"tl_number({column})", bad
        return "NULL", f"CAST({column} AS VARCHAR)"
    if decl.type is T.TEXT:
        return (column, None) if text else ("NULL", f"CAST({column} AS VARCHAR)")
    if decl.type is T.FLAG:
        if base == "BOOLEAN":
            return column, None
        if text:
            cell = f"lower(trim({column}))"
            value = (
                f"CASE WHEN {cell} IN ('true', 'yes', '1') THEN true "
                f"WHEN {cell} IN ('false', 'no', '0') THEN false END"
            )
            bad = (
                f"CASE WHEN nullif({cell}, '') IS NOT NULL AND ({value}) IS NULL THEN {column} END"
            )
            return value, bad
        return "NULL", f"CAST({column} AS VARCHAR)"
    if sql_type.endswith("[]"):
        return column, None
    if text:
        json_list = f"CASE WHEN json_valid({column}) THEN from_json({column}, '[\"VARCHAR\"]') END"
        parts = f"list_transform(string_split({column}, ';'), lambda x: trim(x))"
        split = f"list_filter({parts}, lambda x: x <> '')"
        value = (
            f"CASE WHEN {column} IS NULL THEN []::VARCHAR[] "
            f"WHEN starts_with(trim({column}), '[') THEN {json_list} ELSE {split} END"
        )
        broken = f"starts_with(trim({column}), '[') AND NOT json_valid({column})"
        bad = f"CASE WHEN {broken} THEN {column} END"
        return value, bad
    return "NULL", f"CAST({column} AS VARCHAR)"


def _normal(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def _find(names: list[str], wanted: str, asked: bool) -> str | None:
    """The column named `wanted`, exactly or with its spaces and newlines normalised."""
    if wanted in names:
        return wanted
    matches = [n for n in names if _normal(n) == _normal(wanted)]
    if len(matches) > 1 and asked:
        raise TableError(f"{wanted!r} could be any of {_listing(matches)}; name one exactly")
    return matches[0] if len(matches) == 1 else None


def _listing(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
