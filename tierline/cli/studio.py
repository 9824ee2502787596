"""`tierline studio --rules DIR [--data FILE…]`: the browser studio (tierline/studio)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from tierline.cli.common import Subparsers, UsageError, usage

MAX_UPLOAD_MB = 64


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("studio", help="the browser studio: edit, test and compare rules")
    parser.add_argument("--rules", default="rules", metavar="DIR", help="the rules folder")
    parser.add_argument(
        "--data", action="append", default=[], metavar="FILE",
        help="a sample table (CSV/TSV, Parquet, JSON lines); repeatable",
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    parser.add_argument("--port", type=int, default=8484, help="default 8484; 0 picks a free one")
    parser.add_argument(
        "--auth-tokens", type=Path, metavar="FILE",
        help="callers by token (NAME ROLE[,ROLE…] sha256:HEX; roles view, edit)",
    )  # fmt: skip
    parser.add_argument(
        "--max-upload-mb", type=int, default=MAX_UPLOAD_MB, metavar="MB",
        help=f"the largest sample file the page takes (default {MAX_UPLOAD_MB})",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rules = Path(args.rules)
    if not rules.is_dir():
        return usage(UsageError(f"--rules {args.rules}: no such folder"))
    for data in args.data:
        if not Path(data).is_file():
            return usage(UsageError(f"--data {data}: no such file"))
    if args.auth_tokens is None and not _loopback(args.host):
        return usage(
            UsageError(
                f"--host {args.host}: without --auth-tokens the studio listens on loopback "
                "only (anyone who reaches it could save rules); give --auth-tokens FILE "
                "(`tierline token new NAME --roles edit --add-to FILE`) or --host 127.0.0.1"
            )
        )
    if args.max_upload_mb < 1:
        return usage(UsageError("--max-upload-mb: give 1 or more"))
    import uvicorn

    from server.security.callers import STUDIO_ROLES, CallersFile, CallersProblem
    from tierline.studio.app import Studio, create_app
    from tierline.studio.samples import Samples
    from tierline.studio.workspace import Workspace

    callers = None
    if args.auth_tokens is not None:
        try:
            callers = CallersFile(args.auth_tokens, allowed=STUDIO_ROLES)
        except CallersProblem as error:
            return usage(UsageError(str(error)))
    samples = Samples(args.data, args.max_upload_mb * 1024 * 1024)
    studio = Studio(Workspace(rules), samples, callers)
    config = uvicorn.Config(
        create_app(studio), host=args.host, port=args.port, log_level="warning",
        access_log=False, lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    try:
        server.config.load()
        sockets = [config.bind_socket()]
        port = sockets[0].getsockname()[1]
        print(f"tierline studio: http://{shown}:{port}/ (rules: {rules})", file=sys.stderr,
              flush=True)  # fmt: skip
        server.run(sockets=sockets)
    except OSError as error:
        print(f"tierline studio: cannot listen on {args.host}:{args.port}: {error.strerror}",
              file=sys.stderr)  # fmt: skip
        return 2
    except SystemExit as exit_:  # uvicorn's own failure to bind
        return int(exit_.code or 1)
    finally:
        samples.close()
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
