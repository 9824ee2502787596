"""`tierline sql RULES --dialect D [--table T] [--map INPUT=COLUMN]…`: the rules as one
SQL query, for a warehouse (BigQuery, Snowflake, Postgres) or Spark SQL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import Subparsers, UsageError, load_rules, output_options, usage
from engine.sql.compile import DIALECTS, SqlError, compile_sql


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("sql", help="print the rules as one SQL query over a table")
    parser.add_argument("rules", metavar="RULES", help="a rule file")
    parser.add_argument("--dialect", default="duckdb", choices=DIALECTS, help="default duckdb")
    parser.add_argument("--table", default="accounts", help="the table to classify")
    map_option(parser)
    output_options(parser)
    parser.set_defaults(run=run)


def map_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="INPUT=COLUMN",
        help="read an input from a column of another name (repeatable)",
    )


def mapping(pairs: list[str]) -> dict[str, str]:
    """`followers=follower_count` pairs as a dict; UsageError on a malformed one."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise UsageError(f"--map {pair}: expected INPUT=COLUMN, e.g. followers=follower_count")
        out[name.strip()] = column.strip()
    return out


def run(args: argparse.Namespace) -> int:
    path = Path(args.rules)
    if not path.is_file():
        return usage(UsageError(f"no such rule file: {args.rules}"))
    try:
        columns = mapping(args.map)
    except UsageError as error:
        return usage(error)
    ruleset = load_rules(path, args)
    if ruleset is None:
        return 1
    try:
        query = compile_sql(ruleset.checked, args.dialect, args.table, columns)
    except SqlError as error:
        print(f"tierline sql: {error}", file=sys.stderr)
        return 1
    print(query.sql + ";")
    return 0
