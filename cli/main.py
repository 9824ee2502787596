"""The `tierline` command. Exit codes: 0 ok, 1 rule or input errors, 2 usage errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cli import commands

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierline",
        description="Classify social-media accounts into influencer tiers with readable rules.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser("check", help="parse, type-check and analyse rule files")
    check.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    _output_options(check)

    fmt = sub.add_parser("fmt", help="rewrite rule files in the canonical layout")
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders, or -")
    fmt.add_argument("--check", action="store_true", help="change nothing; exit 1 and show a diff")
    _output_options(fmt)

    test = sub.add_parser("test", help="run the example blocks of rule files")
    test.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    _output_options(test)

    evaluate = sub.add_parser("eval", help="classify JSON accounts with a rule file")
    evaluate.add_argument("rules", metavar="RULES", help="a rule file")
    evaluate.add_argument(
        "--input",
        default="-",
        metavar="FILE",
        help="one JSON object, an array or JSON lines (- for stdin)",
    )
    evaluate.add_argument("--explain", action="store_true", help="print explanations, not JSON")
    evaluate.add_argument("--log", metavar="FILE", help="also append decision-log lines to FILE")
    _output_options(evaluate)

    serve = sub.add_parser("serve", help="serve the rulesets over gRPC")
    serve.add_argument("--rules", type=Path, help="folder of *.tiers files (default rules/)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    serve.add_argument("--default-ruleset", help="ruleset for requests that name none")
    serve.add_argument("--decision-log", help="file, - for stdout (default), off for none")
    serve.add_argument("--archive", type=Path, help="where rule sources are kept by digest")
    serve.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    serve.add_argument(
        "--no-watch",
        dest="watch",
        action="store_false",
        default=None,
        help="do not reload rule files when they change",
    )
    serve.add_argument("--log-when-full", choices=("block", "drop"))

    audit = sub.add_parser("audit", help="why was this account classified this way")
    audit.add_argument("--log", required=True, help="a decision log (JSON lines)")
    which = audit.add_mutually_exclusive_group(required=True)
    which.add_argument("--decision", metavar="ID", help="a decision id, as returned to the caller")
    which.add_argument("--account", metavar="ID", help="an account id: its latest decision")
    audit.add_argument(
        "--at", metavar="TIME", help="with --account: the decision in force then (ISO 8601, UTC)"
    )
    audit.add_argument(
        "--archive", help="rule sources by digest (default: archive/ beside the log)"
    )
    audit.add_argument("--rules", default="rules", help="today's rules folder (default rules/)")
    _output_options(audit)

    handlers = {
        "check": commands.check,
        "fmt": commands.fmt,
        "test": commands.test,
        "eval": commands.eval_,
        "serve": commands.serve,
        "audit": commands.audit,
    }
    COMMANDS.update(handlers)
    return parser


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", dest="output")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
