"""`tierline sql RULES --dialect D [--table T] [--map INPUT=COLUMN]… [--absent INPUT]…`:
the rules as one SQL query, for a warehouse (BigQuery, Snowflake, Postgres) or Spark SQL."""

from __future__ import annotations

import argparse
import sys

from engine import Ruleset
from engine.language.ast import TypeName
from engine.sql import DIALECTS  # not engine.sql.compile: `tierline --help` needs no sqlglot
from tierline.cli.common import (
    Subparsers,
    UsageError,
    map_option,
    output_options,
    rules_and_map,
    usage,
)


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("sql", help="print the rules as one SQL query over a table")
    parser.add_argument("rules", metavar="RULES", help="a rule file")
    parser.add_argument("--dialect", default="duckdb", choices=DIALECTS, help="default duckdb")
    parser.add_argument("--table", default="accounts", help="the table to classify")
    map_option(parser)
    parser.add_argument(
        "--absent",
        action="append",
        default=[],
        metavar="INPUT",
        help="an optional input the table has no column for: every row takes its default"
        " (repeatable)",
    )
    output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = rules_and_map(args)
    if isinstance(loaded, int):
        return loaded
    ruleset, columns = loaded
    from engine.sql.compile import SqlError, compile_sql

    try:
        single, unions = _several(ruleset, columns, args.dialect)
    except UsageError as error:
        return usage(error)
    try:
        query = compile_sql(ruleset.checked, args.dialect, args.table, single, absent=args.absent)
    except SqlError as error:
        print(f"tierline sql: {error}", file=sys.stderr)
        return 1
    for holder, union in unions.items():
        query = query.replace(holder, f"({union})")
    print(query + ";")
    return 0


_HOLDER = "__tierline_columns_of_"


def _several(
    ruleset: Ruleset, columns: dict[str, str], dialect: str
) -> tuple[dict[str, str], dict[str, str]]:
    """`--map topics=category_1,category_2`: a set of text read from several columns, the
    union of their items. The query is compiled with a stand-in column for the input,
    then each use of the stand-in (a quoted name no table has, that only the rules'
    column references carry) is replaced by the union of the columns. Returns the
    mapping to compile with, and each stand-in as the dialect quotes it -> its union."""
    from sqlglot import exp

    from tierline.tables.cells import several, union

    single: dict[str, str] = {}
    unions: dict[str, str] = {}
    for name, mapped in columns.items():
        try:
            parts = several(mapped)
        except ValueError as error:
            raise UsageError(f"--map {name}={mapped}: {error}") from None
        decl = ruleset.checked.inputs.get(name)
        if len(parts) == 1 or decl is None:  # an unknown input: compile_sql names it
            single[name] = mapped
            continue
        if decl.type is not TypeName.TEXT_SET:
            raise UsageError(
                f"--map {name}={mapped}: {name} is a {decl.type.value}, read from one "
                "column; only a set of text takes several (the union of their items)"
            )
        single[name] = _HOLDER + name
        holder = exp.column(_HOLDER + name, quoted=True).sql(dialect=dialect)
        quoted = [exp.column(part, quoted=True).sql(dialect=dialect) for part in parts]
        unions[holder] = union(quoted, dialect, tidy=False)
    return single, unions
