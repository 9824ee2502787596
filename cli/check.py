"""`tierline check PATH…`: parse, type-check and analyse rule files; exit 1 on errors."""

from __future__ import annotations

import argparse
import sys

from cli.common import Subparsers, UsageError, output_options, report, rule_files, usage
from engine import RuleError
from engine.load import check_source, read_source


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("check", help="parse, type-check and analyse rule files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        files = list(rule_files(args.paths))
    except UsageError as error:
        return usage(error)
    errors = warnings = 0
    for path in files:
        try:
            source = read_source(path)
            found = list(check_source(source).warnings)
        except RuleError as error:
            source, found = error.source, error.diagnostics
        except OSError as error:
            print(f"tierline: cannot read {path}: {error.strerror}", file=sys.stderr)
            errors += 1
            continue
        report(args, source, found)
        n_errors = sum(1 for d in found if d.severity.value == "error")
        errors += n_errors
        warnings += len(found) - n_errors
    if args.output == "text":
        summary = f"checked {len(files)} file{'s' * (len(files) != 1)}: "
        print(summary + f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0
