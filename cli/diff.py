"""`tierline diff OLD NEW --data INPUT`: what a rule change does to real accounts: the
migration matrix (old tier by new tier), label changes, and example accounts with
both explanations. OLD and NEW are files or `REV:PATH` from git."""

from __future__ import annotations

import argparse
import sys

from cli.common import Subparsers, UsageError, load_version, mapped
from cli.reporting import as_json, data_options, emit, guarded


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("diff", help="what a rule change does to a table of accounts")
    parser.add_argument("old", metavar="OLD", help="a rule file, or REV:PATH (main:rules/x.tiers)")
    parser.add_argument("new", metavar="NEW", help="a rule file, or REV:PATH")
    data_options(parser, required=False)
    parser.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when any row changes tier or labels (for CI)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return guarded("diff", lambda: _diff(args))


def _diff(args: argparse.Namespace) -> int:
    if not args.data:
        raise UsageError("diff needs --data INPUT (the accounts to classify under both versions)")
    if args.examples < 0:
        raise UsageError("--examples: give 0 or more")
    columns = mapped(args.map)
    old, new = load_version(args.old, args), load_version(args.new, args)
    if old is None or new is None:
        return 1
    from tables.migration import migrate

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
    if args.report_format == "json":
        emit(args, as_json(found.to_json()))
    else:
        from reports.diff import document
        from reports.document import render

        doc = document(found, old, new, ", ".join(args.data), charts=args.report_format == "html")
        emit(args, render(doc, args.report_format))
    return 1 if args.fail_on_change and not found.equivalent else 0
