"""The `tierline` command. Exit codes: 0 ok, 1 rule or input errors, 2 usage errors.

Each subcommand is a module of this package with `add_parser(sub)`, which
declares its arguments, and `run(args)`, which does it; this module only
puts them together, in the order `tierline --help` lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tierline.cli import (
    audit,
    check,
    classify,
    compare,
    diff,
    fmt,
    key,
    serve,
    sql,
    studio,
    test,
    token,
)
from tierline.cli import eval as evaluate

SUBCOMMANDS = (
    check, fmt, test, evaluate, sql, classify, compare, diff, serve, studio, token, audit, key,
)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierline",
        description="Classify social-media accounts into influencer tiers with readable rules.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
