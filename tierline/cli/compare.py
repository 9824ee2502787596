"""`tierline compare RULES… --data INPUT`: how several definitions classify the same
accounts (tier counts, pairwise cross-tables, agreement, the most disputed rows)."""

from __future__ import annotations

import argparse
import sys

from tierline.cli.common import Subparsers, UsageError, guarded, load_version, mapped
from tierline.cli.reporting import data_options, write


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("compare", help="how several definitions classify the same accounts")
    parser.add_argument(
        "rules", nargs="+", metavar="RULES", help="rule files or REV:PATH, two or more"
    )
    data_options(parser, required=True)
    parser.add_argument("--tier", help="the tier whose agreement is counted (default micro)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return guarded("compare", lambda: _compare(args))


def _compare(args: argparse.Namespace) -> int:
    if len(args.rules) < 2:
        raise UsageError("compare needs two rule files or more")
    if args.examples < 0:
        raise UsageError("--examples: give 0 or more")
    columns = mapped(args.map)
    rulesets = [load_version(spec, args) for spec in args.rules]
    loaded = [r for r in rulesets if r is not None]
    if len(loaded) < len(rulesets):
        return 1
    names = [r.name for r in loaded]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(
            f"two files are both ruleset {', '.join(twice)}: compare needs "
            "different rulesets (to compare versions of one, use tierline diff)"
        )
    if args.tier is not None and not any(args.tier in r.checked.tier_names() for r in loaded):
        raise UsageError(
            f"--tier {args.tier}: no definition has that tier (they have "
            f"{', '.join(dict.fromkeys(t for r in loaded for t in r.checked.tier_names()))})"
        )
    from tierline.tables.compare import compare

    found = compare(
        loaded,
        args.data,
        columns,
        args.id,
        args.examples,
        args.tier,
        sys.stderr.isatty(),
        args.engine,
        args.master,
    )
    for warning in found.warnings:
        print(f"tierline compare: warning: {warning}", file=sys.stderr)
    from tierline.reports.compare import document

    charts = args.report_format == "html"
    write(args, found.to_json, lambda: document(found, loaded, ", ".join(args.data), charts))
    return 0
