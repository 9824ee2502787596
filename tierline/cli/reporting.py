"""What `tierline compare` and `tierline diff` share: the data options, and writing the
report where it was asked for."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierline.cli.common import engine_options, map_option

if TYPE_CHECKING:
    from tierline.reports.document import Document

FORMATS = ("text", "markdown", "json", "html")


def data_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        required=required,
        metavar="INPUT",
        help="the accounts: CSV/TSV, Parquet or JSON lines; globs; repeatable",
    )
    parser.add_argument("--id", metavar="COLUMN", help="the column naming each row (default id)")
    map_option(parser)
    parser.add_argument(
        "--examples",
        type=int,
        default=3,
        metavar="K",
        help="accounts shown for each cell (default 3)",
    )
    engine_options(parser)
    parser.add_argument("--format", choices=FORMATS, default="text", dest="report_format")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        dest="report_file",
        help="write the report here (default: standard output)",
    )
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    parser.set_defaults(output="text")  # diagnostics of broken rules as text


def emit(args: argparse.Namespace, text: str) -> None:
    if args.report_file:
        Path(args.report_file).write_text(text, encoding="utf-8")
        print(f"tierline: wrote {args.report_file}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def as_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n"


def write(
    args: argparse.Namespace,
    json_value: Callable[[], dict[str, Any]],
    document: Callable[[], Document],
) -> None:
    """The report in the asked format: the results' JSON, or their document rendered."""
    if args.report_format == "json":
        emit(args, as_json(json_value()))
    else:
        from tierline.reports.document import render

        emit(args, render(document(), args.report_format))
