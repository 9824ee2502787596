"""`tierline classify RULES INPUT… -o OUTPUT`: classify CSV/TSV, Parquet or JSON-lines
files (globs allowed) into CSV, Parquet or JSON lines, on DuckDB (embedded)."""

from __future__ import annotations

import argparse
import sys

from cli.common import (
    Subparsers,
    UsageError,
    engine_options,
    map_option,
    output_options,
    rules_and_map,
    usage,
)


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("classify", help="classify table files (CSV, Parquet, JSON lines)")
    parser.add_argument("rules", metavar="RULES", help="a rule file")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files or globs, one format")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                        help=".csv, .parquet or .jsonl")  # fmt: skip
    parser.add_argument("--id", metavar="COLUMN", help="the column naming each row (default id)")
    parser.add_argument("--keep-columns", action="store_true", help="keep every input column")
    engine_options(parser)
    map_option(parser)
    output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = rules_and_map(args)
    if isinstance(loaded, int):
        return loaded
    ruleset, columns = loaded
    import duckdb  # here, not at the top: every other command starts without DuckDB

    from engine.sql.compile import SqlError
    from tables.classify import classify_files
    from tables.read import TableError

    try:
        if args.engine == "spark":
            from tables.spark import classify_files_spark

            summary = classify_files_spark(
                ruleset, args.inputs, args.output, columns, args.id, args.keep_columns, args.master
            )
        else:
            summary = classify_files(
                ruleset,
                args.inputs,
                args.output,
                columns,
                args.id,
                args.keep_columns,
                progress=sys.stderr.isatty(),
            )
    except (TableError, SqlError) as error:
        return usage(UsageError(str(error)))
    except duckdb.Error as error:
        print(f"tierline classify: {error}", file=sys.stderr)
        return 1
    print(f"tierline classify: {summary.text()} -> {args.output}", file=sys.stderr)
    return 1 if summary.errors else 0
