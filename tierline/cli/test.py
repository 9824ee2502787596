"""`tierline test PATH…`: run the `example` blocks; a failure shows expected vs got and
the explanation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine import ExampleResult
from engine.python.terminal import json_printable
from engine.python.terminal import printable as escaped
from tierline.cli.common import (
    BOLD,
    RED,
    RESET,
    Subparsers,
    UsageError,
    load_rules,
    output_options,
    printable,
    rule_files,
    usage,
    use_color,
)
from tierline.cli.examples import unreached


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
    as_json = args.output == "json"
    color = use_color(args, sys.stdout) and not as_json
    ok_mark = f"{BOLD}ok{RESET}" if color else "ok"
    fail_mark = f"{BOLD}{RED}FAIL{RESET}" if color else "FAIL"
    passed = failed = broken = empty = 0
    for path in files:
        ruleset = load_rules(path, args)
        if ruleset is None:
            broken += 1
            continue
        results = ruleset.run_examples()
        if not results:
            empty += 1
            _say(as_json, {"file": str(path), "warning": "no examples"}, _no_examples(path))
        tiers, labels = unreached(ruleset, results)
        if results and (tiers or labels):
            _say(as_json, {"file": str(path), "unreached": {"tiers": tiers, "labels": labels}},
                 _unreached(path, tiers, labels))  # fmt: skip
        for result in results:
            where = f"{path}:{result.example.span.line}"
            description = escaped(result.example.description)
            if result.passed:
                passed += 1
                if args.verbose and not as_json:
                    print(f"{ok_mark}   {escaped(where)} {description}")
            else:
                failed += 1
            if as_json:
                _say(True, _example_json(path, result), "")
            elif not result.passed:
                print(f"{fail_mark} {escaped(where)} {description}")
                print(f"  expected {escaped(result.expected())}")
                print(f"  got      {escaped(result.got())}")  # an error may quote data
                if result.decision is not None:
                    print("  " + printable(result.decision.explain()).replace("\n", "\n  "))
    summary = f"{passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} file(s) with errors"
    if empty:
        summary += f", {empty} file(s) without examples"
    _say(as_json, {"passed": passed, "failed": failed, "files_with_errors": broken,
                   "files_without_examples": empty}, summary)  # fmt: skip
    return 1 if failed or broken else 0


def _example_json(path: Path, result: ExampleResult) -> dict[str, Any]:
    return {"file": str(path), **result.to_dict()}


def _no_examples(path: Path) -> str:
    return (
        f'WARNING: {escaped(str(path))}: no examples to run; add `example "…" given … '
        "expect …` so that tests and reloads check the rules"
    )


def _unreached(path: Path, tiers: list[str], labels: list[str]) -> str:
    named = [f"tier {t}" for t in tiers] + [f"label {x}" for x in labels]
    return (
        f"NOTE: {escaped(str(path))}: no example reaches {', '.join(named)}; "
        "`tierline check --suggest-examples` writes one for each"
    )


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    print(json_printable(json.dumps(data, ensure_ascii=False)) if as_json else text)
