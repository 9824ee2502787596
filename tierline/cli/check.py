"""`tierline check PATH…`: parse, type-check and analyse rule files; exit 1 on errors."""

from __future__ import annotations

import argparse
import sys

from engine import RuleError, Ruleset
from engine.load import SOLVER_MS, check_source, read_source
from engine.python.terminal import printable as escaped
from tierline.cli.common import (
    Subparsers,
    UsageError,
    output_options,
    printable,
    report,
    rule_files,
    usage,
)
from tierline.cli.examples import suggestions


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("check", help="parse, type-check and analyse rule files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    parser.add_argument(
        "--suggest-examples",
        action="store_true",
        help="print an example block for each tier and label no example reaches",
    )
    parser.add_argument(
        "--solver-ms",
        type=int,
        default=SOLVER_MS,
        metavar="MS",
        help=f"the solver's budget for each query (default {SOLVER_MS})",
    )
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
            checked = check_source(source, solver_ms=args.solver_ms)
            found = list(checked.warnings)
        except RuleError as error:
            source, found, checked = error.source, error.diagnostics, None
        except OSError as error:
            print(f"tierline: cannot read {escaped(str(path))}: {error.strerror}", file=sys.stderr)
            errors += 1
            continue
        report(args, source, found)
        if args.suggest_examples and checked is not None:
            suggested = suggestions(Ruleset(checked), args.solver_ms)
            if suggested:
                head = f"# {escaped(str(path))}: examples for what no example reaches"
                print(f"{head}\n\n{printable(suggested)}", end="")
        # a summary diagnostic stands for the `omitted` findings not listed
        n_errors = sum(d.omitted or 1 for d in found if d.severity.value == "error")
        errors += n_errors
        warnings += sum(d.omitted or 1 for d in found) - n_errors
    if args.output == "text":
        summary = f"checked {len(files)} file{'s' * (len(files) != 1)}: "
        print(summary + f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0
