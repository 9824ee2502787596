"""`tierline fmt PATH…`: rewrite rule files in the canonical layout (`--check`: show a diff,
exit 1; `-`: filter stdin)."""

from __future__ import annotations

import argparse
import difflib
import sys

from engine import RuleError
from engine.language.format import format_source
from engine.load import decode, read_source
from tierline.cli.common import Subparsers, UsageError, output_options, report, rule_files, usage


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("fmt", help="rewrite rule files in the canonical layout")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders, or -")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 and show a diff"
    )
    output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.paths == ["-"]:
        return _fmt_stream(args)
    try:
        files = list(rule_files(args.paths))
    except UsageError as error:
        return usage(error)
    status = 0
    for path in files:
        try:
            source = read_source(path)
            formatted = format_source(source)
        except RuleError as error:
            report(args, error.source, error.diagnostics)
            status = 1
            continue
        if formatted == source.text:
            continue
        if args.check:
            diff = difflib.unified_diff(
                source.text.splitlines(keepends=True),
                formatted.splitlines(keepends=True),
                f"{path} (as written)",
                f"{path} (formatted)",
            )
            sys.stdout.writelines(diff)
            status = 1
        else:
            path.write_text(formatted, encoding="utf-8")
            print(f"formatted {path}", file=sys.stderr)
    return status


def _fmt_stream(args: argparse.Namespace) -> int:
    try:
        source = decode(sys.stdin.buffer.read(), "<stdin>")
        formatted = format_source(source)
    except RuleError as error:
        report(args, error.source, error.diagnostics)
        return 1
    if args.check:
        return 0 if formatted == source.text else 1
    sys.stdout.write(formatted)
    return 0
