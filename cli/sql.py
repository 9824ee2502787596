"""`tierline sql RULES --dialect D [--table T] [--map INPUT=COLUMN]… [--absent INPUT]…`:
the rules as one SQL query, for a warehouse (BigQuery, Snowflake, Postgres) or Spark SQL."""

from __future__ import annotations

import argparse
import sys

from cli.common import Subparsers, map_option, output_options, rules_and_map
from engine.sql import DIALECTS  # not engine.sql.compile: `tierline --help` needs no sqlglot


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
        query = compile_sql(ruleset.checked, args.dialect, args.table, columns, absent=args.absent)
    except SqlError as error:
        print(f"tierline sql: {error}", file=sys.stderr)
        return 1
    print(query + ";")
    return 0
