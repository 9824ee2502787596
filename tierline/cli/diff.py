"""`tierline diff OLD NEW [--data INPUT]`: what a rule change does. With data, to real
accounts: the migration matrix (old tier by new tier), label changes, and example
accounts with both explanations. Without, from the rules alone: whether any account
can change, with one account for each pair of tiers it can move between. OLD and NEW
are files or `REV:PATH` from git."""

from __future__ import annotations

import argparse
import sys

from engine import Ruleset
from engine.load import SOLVER_MS
from tierline.cli.common import Subparsers, UsageError, guarded, load_version, mapped
from tierline.cli.reporting import data_options, write


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("diff", help="what a rule change does to a table of accounts")
    parser.add_argument("old", metavar="OLD", help="a rule file, or REV:PATH (main:rules/x.tiers)")
    parser.add_argument("new", metavar="NEW", help="a rule file, or REV:PATH")
    data_options(parser, required=False)
    parser.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when any account changes tier or labels (for CI)",
    )
    parser.add_argument(
        "--solver-ms",
        type=int,
        default=SOLVER_MS,
        metavar="MS",
        help=f"without --data: the solver's budget for each query (default {SOLVER_MS})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return guarded("diff", lambda: _diff(args), tables=bool(args.data))


def _diff(args: argparse.Namespace) -> int:
    if args.examples < 0:
        raise UsageError("--examples: give 0 or more")
    columns = mapped(args.map)
    old, new = load_version(args.old, args), load_version(args.new, args)
    if old is None or new is None:
        return 1
    if not args.data:
        return _from_rules(args, old, new)
    from tierline.tables.migration import migrate

    found = migrate(
        old,
        new,
        args.data,
        columns,
        args.id,
        args.examples,
        sys.stderr.isatty(),
        args.engine,
        args.master,
    )
    from tierline.reports.diff import document

    charts = args.report_format == "html"
    write(args, found.to_json, lambda: document(found, old, new, ", ".join(args.data), charts))
    return 1 if args.fail_on_change and not found.equivalent else 0


def _from_rules(args: argparse.Namespace, old: Ruleset, new: Ruleset) -> int:
    """No data: whether any account can change, decided by the solver from the rules."""
    from engine.analysis.changes import IncomparableError
    from engine.ruleset import rule_changes
    from tierline.reports.changes import document, to_json

    try:
        found = rule_changes(old, new, args.solver_ms)
    except IncomparableError as error:
        raise UsageError(str(error)) from None
    write(args, lambda: to_json(found), lambda: document(found, old, new))
    return 1 if args.fail_on_change and not found.equivalent else 0
