"""Text cells as the values the rules declare, in DuckDB's SQL or Spark's.

Exports write counts as `475.8m`, `3.3k` and `12,000`, percentages as
`1.39%`, sets as `a;b` or a JSON array. Each reading is written once here,
in DuckDB's dialect, and sqlglot writes it for Spark, so that both engines
read a cell the same way:
- numbers: thousands separators (`,` `_`, spaces) are dropped; `k`, `m`,
  `b` multiply and `%` divides by 100, in decimals (so `475.8m` is exactly
  475,800,000); anything else that is not a number is unreadable;
- flags: true/false, yes/no, 1/0; sets: a JSON array, or texts between `;`,
  an empty cell an empty set.
`value` is the cell as the input's type (NULL for an empty cell); `unreadable`
is the cell itself where it holds something else (NULL elsewhere), which the
rules' SQL turns into the row's error.
"""

from __future__ import annotations

import sqlglot

from engine.language.ast import TypeName

T = TypeName
_CLEAN = "lower(replace(replace(replace(trim({c}), ',', ''), '_', ''), ' ', ''))"
_SCALED = (
    "CASE WHEN {t} = '' THEN NULL "
    "WHEN right({t}, 1) = '%' THEN CAST(TRY_CAST({body} AS DECIMAL(38, 10)) / 100 AS DOUBLE) "
    "WHEN right({t}, 1) = 'k' THEN CAST(TRY_CAST({body} AS DECIMAL(38, 10)) * 1000 AS DOUBLE) "
    "WHEN right({t}, 1) = 'm' THEN CAST(TRY_CAST({body} AS DECIMAL(38, 10)) * 1000000 AS DOUBLE) "
    "WHEN right({t}, 1) = 'b' "
    "THEN CAST(TRY_CAST({body} AS DECIMAL(38, 10)) * 1000000000 AS DOUBLE) "
    "ELSE TRY_CAST({t} AS DOUBLE) END"
)
_FLAG = (
    "CASE WHEN lower(trim({c})) IN ('true', 'yes', '1') THEN true "
    "WHEN lower(trim({c})) IN ('false', 'no', '0') THEN false END"
)
_SPLIT = "list_filter(list_transform(string_split({c}, ';'), lambda x: trim(x)), lambda x: x <> '')"
_JSON_LIST = {
    "duckdb": "CASE WHEN json_valid({c}) THEN from_json({c}, '[\"VARCHAR\"]') END",
    "spark": "from_json({c}, 'array<string>')",
}
DRAWN = "regexp_matches(coalesce({c}, ''), '^[=+-]{{3,}}$')"  # a line of = - + under a header


def quoted(name: str) -> str:
    """A column name as DuckDB quotes it (the templates here are DuckDB SQL)."""
    return '"' + name.replace('"', '""') + '"'


def _sql(text: str, dialect: str) -> str:
    """DuckDB SQL as `dialect` writes it."""
    return text if dialect == "duckdb" else sqlglot.transpile(text, read="duckdb", write=dialect)[0]


def number(name: str, dialect: str) -> tuple[str, str]:
    """(the cell as a double, the cell where it is not a number)."""
    column = quoted(name)
    clean = _CLEAN.format(c=column)
    body = f"substring({clean}, 1, length({clean}) - 1)"
    value = _SCALED.format(t=clean, body=body)
    bad = (
        f"CASE WHEN nullif(trim({column}), '') IS NOT NULL AND ({value}) IS NULL THEN {column} END"
    )
    return _sql(value, dialect), _sql(bad, dialect)


def flag(name: str, dialect: str) -> tuple[str, str]:
    column = quoted(name)
    value = _FLAG.format(c=column)
    bad = (
        f"CASE WHEN nullif(trim({column}), '') IS NOT NULL AND ({value}) IS NULL THEN {column} END"
    )
    return _sql(value, dialect), _sql(bad, dialect)


def text_set(name: str, dialect: str) -> tuple[str, str]:
    """A JSON array or `a;b`; an empty cell is the empty set."""
    column = quoted(name)
    col = _sql(column, dialect)
    split = _sql(_SPLIT.format(c=column), dialect)
    json_list = _JSON_LIST[dialect].format(c=col)  # the one piece written per dialect
    opens = _sql(f"starts_with(trim({column}), '[')", dialect)
    empty = _sql("CAST([] AS VARCHAR[])", dialect)
    value = f"CASE WHEN {col} IS NULL THEN {empty} WHEN {opens} THEN {json_list} ELSE {split} END"
    bad = f"CASE WHEN {opens} AND ({json_list}) IS NULL THEN {col} END"
    return value, bad


def drawn(name: str, dialect: str) -> str:
    """The row is a line drawn under the header: `name` is its first column."""
    return _sql(DRAWN.format(c=quoted(name)), dialect)


def read(type_: T, name: str, dialect: str) -> tuple[str, str]:
    """(value, unreadable) for the text cells of column `name`, for an input of `type_`."""
    if type_ in (T.COUNT, T.NUMBER, T.PERCENT):
        return number(name, dialect)
    if type_ is T.FLAG:
        return flag(name, dialect)
    if type_ is T.TEXT_SET:
        return text_set(name, dialect)
    return _sql(quoted(name), dialect), "NULL"


def several(mapped: str) -> tuple[str, ...]:
    """The columns of a `--map INPUT=A,B` (one when there is no comma), trimmed, each once."""
    parts = tuple(dict.fromkeys(part.strip() for part in mapped.split(",")))
    if "" in parts:
        raise ValueError(f"{mapped!r} names an empty column; write COLUMN,COLUMN")
    return parts


_UNION_PART = "coalesce({c}, CAST([] AS VARCHAR[]))"


def union(values: list[str], dialect: str, tidy: bool = True) -> str:
    """Sets read from several columns as one (`--map topics=category_1,category_2`): the
    items of each, NULL only when every one is NULL (an account without the input). With
    `tidy`, each item once and sorted, as a set is shown; without, only concatenated,
    which the rules' tests (has any of, has all of) read the same, for dialects that
    have no such functions (PostgreSQL). `values` are SQL in `dialect`."""
    holders = [f"__union_{i}" for i in range(len(values))]
    joined = _UNION_PART.format(c=quoted(holders[0]))
    for holder in holders[1:]:
        joined = f"list_concat({joined}, {_UNION_PART.format(c=quoted(holder))})"
    if tidy:
        joined = f"list_sort(list_distinct({joined}))"
    missing = " AND ".join(f"{quoted(h)} IS NULL" for h in holders)
    sql = _sql(f"CASE WHEN {missing} THEN NULL ELSE {joined} END", dialect)
    for holder, value in zip(holders, values, strict=True):
        sql = sql.replace(_sql(quoted(holder), dialect), f"({value})")
    return sql
