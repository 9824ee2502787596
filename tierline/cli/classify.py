"""`tierline classify RULES INPUT… -o OUTPUT`: classify CSV/TSV, Parquet or JSON-lines
files (globs allowed) into CSV, Parquet or JSON lines, on DuckDB (embedded)."""

from __future__ import annotations

import argparse
import sys

from engine import Ruleset
from tierline.cli.common import (
    Subparsers,
    engine_options,
    guarded,
    map_option,
    output_options,
    rules_and_map,
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
    return guarded("classify", lambda: _classify(args, ruleset, columns))


def _classify(args: argparse.Namespace, ruleset: Ruleset, columns: dict[str, str]) -> int:
    if args.engine == "spark":
        from tierline.tables.spark import classify_files_spark

        summary = classify_files_spark(
            ruleset, args.inputs, args.output, columns, args.id, args.keep_columns, args.master
        )
    else:
        from tierline.tables.classify import classify_files

        summary = classify_files(
            ruleset,
            args.inputs,
            args.output,
            columns,
            args.id,
            args.keep_columns,
            progress=sys.stderr.isatty(),
        )
    print(f"tierline classify: {summary.text()} -> {args.output}", file=sys.stderr)
    return 1 if summary.errors else 0
