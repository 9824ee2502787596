"""`tierline test PATH…`: run the `example` blocks; a failure shows expected vs got and
the explanation."""

from __future__ import annotations

import argparse
import sys

from cli.common import (
    BOLD,
    RED,
    RESET,
    Subparsers,
    UsageError,
    load_rules,
    output_options,
    rule_files,
    usage,
    use_color,
)


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("test", help="run the example blocks of rule files")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    parser.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        files = list(rule_files(args.paths))
    except UsageError as error:
        return usage(error)
    color = use_color(args, sys.stdout)
    ok_mark = f"{BOLD}ok{RESET}" if color else "ok"
    fail_mark = f"{BOLD}{RED}FAIL{RESET}" if color else "FAIL"
    passed = failed = broken = 0
    for path in files:
        ruleset = load_rules(path, args)
        if ruleset is None:
            broken += 1
            continue
        for result in ruleset.run_examples():
            line = result.example.span.line
            where = f"{path}:{line}"
            if result.passed:
                passed += 1
                if args.verbose:
                    print(f"{ok_mark}   {where} {result.example.description}")
                continue
            failed += 1
            print(f"{fail_mark} {where} {result.example.description}")
            print(f"  expected {result.expected()}")
            print(f"  got      {result.got()}")
            if result.decision is not None:
                print("  " + result.decision.explain().replace("\n", "\n  "))
    summary = f"{passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} file(s) with errors"
    print(summary)
    return 1 if failed or broken else 0
