"""`tierline token new NAME --roles R[,R...]`: a fresh caller token for `tierline serve
--auth-tokens FILE`, printed once, and the line that lets it in.

The server keeps only the token's SHA-256 (`server/security/callers.py`), so the
token printed here is the only copy: it goes to the caller, the line goes into the
file. stdout holds just those (the token, then the line; with `--add-to FILE`, the
line is appended there and stdout holds only the token), so that a script can take
them; what to do with them is said on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from server.security.callers import (
    NAME,
    ROLES,
    STUDIO_ROLES,
    new_token,
    parse_callers,
    token_line,
)
from tierline.cli.common import Subparsers, UsageError, usage


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "token", help="caller tokens for `tierline serve` or `tierline studio --auth-tokens`"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="a fresh token, printed once, and its line")
    new.add_argument("name", metavar="NAME", help="the caller, as the decision log will name it")
    new.add_argument(
        "--roles",
        required=True,
        metavar="R[,R...]",
        help="what the caller may do: "
        + ", ".join(ROLES)
        + " (tierline serve), or "
        + ", ".join(STUDIO_ROLES)
        + " (tierline studio)",
    )
    new.add_argument(
        "--add-to",
        type=Path,
        metavar="FILE",
        help="append the line to this --auth-tokens file (made, mode 0600, if missing)",
    )
    new.add_argument("--format", choices=("text", "json"), default="text", dest="output")
    new.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not NAME.fullmatch(args.name):
        return usage(
            UsageError("NAME: letters, digits and . _ @ : / + = - (at most 255, no spaces)")
        )
    roles = [r for r in args.roles.split(",") if r]
    family = STUDIO_ROLES if roles and set(roles) <= set(STUDIO_ROLES) else ROLES
    unknown = sorted(set(roles).difference(family))
    if not roles or unknown:
        wrong = f"unknown role {', '.join(unknown)}; " if unknown else ""
        return usage(
            UsageError(
                f"--roles: {wrong}give one or more of {', '.join(ROLES)} (tierline serve) "
                f"or of {', '.join(STUDIO_ROLES)} (tierline studio)"
            )
        )
    roles = list(dict.fromkeys(roles))
    token = new_token()
    line = token_line(args.name, roles, token)
    if args.add_to is not None:
        try:
            _append(args.add_to, line, family)
        except OSError as error:
            print(f"tierline token: cannot add to {args.add_to}: {error.strerror}", file=sys.stderr)
            return 2
    if args.output == "json":
        shown = {"name": args.name, "roles": roles, "token": token, "line": line}
        print(json.dumps(shown))
        return 0
    print(token)
    if args.add_to is None:
        print(line)
        print(
            f"tierline token: the first line is {args.name}'s token, shown only now: give it "
            "to the caller, who sends it as 'authorization: Bearer TOKEN'. The second goes "
            "into the --auth-tokens file (it holds the token's SHA-256, not the token).",
            file=sys.stderr,
        )
    else:
        print(
            f"tierline token: {args.name} added to {args.add_to}; a running server reads it "
            "within a second. The line above is the token, shown only now: give it to the "
            "caller, who sends it as 'authorization: Bearer TOKEN'.",
            file=sys.stderr,
        )
    return 0


def _append(path: Path, line: str, family: tuple[str, ...]) -> None:
    """Append one line, on a line of its own; warn when the file has lines the server
    leaves out (they are not this command's to fix)."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as file:
        size = os.fstat(fd).st_size
        ending = b""
        if size and os.pread(fd, 1, size - 1) != b"\n":
            ending = b"\n"
        file.write(ending + line.encode() + b"\n")
    text = path.read_text(encoding="utf-8", errors="replace")
    _callers, problems = parse_callers(text, family)
    for problem in problems:
        print(f"tierline token: warning: {path}: {problem}", file=sys.stderr)
