"""`tierline lsp [--tcp PORT]`: run the language server (stdio unless --tcp)."""

from __future__ import annotations

import argparse
import logging

from engine.load import SOLVER_MS
from tierline.cli.common import Subparsers


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "lsp",
        help="the language server for editors (Language Server Protocol over stdio)",
        description="Speak the Language Server Protocol on stdin/stdout (or --tcp PORT): "
        "diagnostics as `tierline check` gives them, hover, completion, definition, "
        "references, rename, formatting, quick fixes, outline and example code lenses.",
    )
    parser.add_argument(
        "--tcp",
        type=int,
        metavar="PORT",
        help="listen on 127.0.0.1:PORT instead of stdio (loopback only: the protocol has no "
        "authentication)",
    )
    parser.add_argument(
        "--solver-ms",
        type=int,
        default=SOLVER_MS,
        metavar="MS",
        help=f"the analysis solver's budget for each query (default {SOLVER_MS})",
    )
    parser.add_argument("--log-file", metavar="FILE", help="write the server's log to FILE")
    parser.add_argument(
        "--stdio", action="store_true", help="use stdio (the default; clients may pass it)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """pygls is imported here, so that other commands do not pay for it."""
    if args.log_file:
        logging.basicConfig(filename=args.log_file, level=logging.INFO)
    from tierline.lsp.server import serve

    serve(tcp=args.tcp, solver_ms=args.solver_ms)
    return 0
