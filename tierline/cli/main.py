"""The `tierline` command. Exit codes: 0 ok, 1 rule or input errors, 2 usage errors.

Each subcommand is a module of this package with `add_parser(sub)`, which
declares its arguments, and `run(args)`, which does it; this module only
puts them together, in the order `tierline --help` lists them.

A command imports only its own module: `tierline fmt` need not load the solver, the
generated evaluator or the server to format a file, and start-up is most of the time a
rule author's editor or CI waits for on a small file. `tierline --help` (or a word that
is no command) loads them all, to list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command → its module, in the order `tierline --help` lists them
SUBCOMMANDS = {
    "check": "tierline.cli.check",
    "fmt": "tierline.cli.fmt",
    "test": "tierline.cli.test",
    "eval": "tierline.cli.eval",
    "sql": "tierline.cli.sql",
    "classify": "tierline.cli.classify",
    "compare": "tierline.cli.compare",
    "diff": "tierline.cli.diff",
    "serve": "tierline.cli.serve",
    "studio": "tierline.cli.studio",
    "token": "tierline.cli.token",
    "audit": "tierline.cli.audit",
    "key": "tierline.cli.key",
    "lsp": "tierline.lsp.command",
}


def _parser(commands: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierline",
        description="Classify social-media accounts into influencer tiers with readable rules.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        importlib.import_module(SUBCOMMANDS[command]).add_parser(sub)
    return parser


def _commands(argv: Sequence[str]) -> Sequence[str]:
    """The one command named first on the line, or all of them (for help and errors)."""
    if argv and argv[0] in SUBCOMMANDS:
        return [argv[0]]
    return list(SUBCOMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = _parser(_commands(words)).parse_args(words)
    try:
        code: int = args.run(args)
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
