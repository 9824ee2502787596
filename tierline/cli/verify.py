"""`tierline audit verify`: prove the decision log was not altered.

Streams every file once (constant memory), in the order they were written (by
their first line's time), and checks each line's chain and each checkpoint's
signature with `server/log_chain.py`, the module the writer seals lines with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.python.terminal import json_printable, printable
from server.log_chain import KeyProblem, load_public_key
from server.log_verify import Verdict, order_files, verify
from tierline.cli.common import UsageError, usage


def run_verify(args: argparse.Namespace) -> int:
    if not args.public_key:
        return usage(UsageError("audit verify needs --public-key KEY"))
    paths = [Path(p) for p in args.log]
    for path in paths:
        if not path.is_file():
            return usage(UsageError(f"no such log file: {path}"))
    try:
        public = load_public_key(Path(args.public_key).read_bytes(), args.public_key)
    except OSError as error:
        return usage(UsageError(f"cannot read {args.public_key}: {error.strerror}"))
    except KeyProblem as error:
        return usage(UsageError(str(error)))
    verdict = verify(order_files(paths), public)
    if args.output == "json":
        print(json_printable(json.dumps(verdict.to_dict(), ensure_ascii=False)))
    else:
        print(report(verdict))
    return 0 if verdict.intact else 1


def report(verdict: Verdict) -> str:
    """For people: the verdict first, then each problem on its own line."""
    if verdict.intact:
        head = (
            f"intact: {verdict.lines:,} lines, {verdict.checkpoints:,} checkpoints signed by "
            f"key {verdict.key_id}"
        )
        if verdict.cut_lines:
            head += f" ({verdict.cut_lines} line(s) cut by a writer crash, chained as cut)"
        return head
    lines = [f"NOT INTACT: {verdict.lines:,} lines, {len(verdict.problems):,} problem(s)"]
    for p in verdict.problems:
        count = f" ({p.count:,} lines)" if p.count else ""
        lines.append(printable(f"  {p.file}:{p.line}: {p.kind}{count}: {p.detail}"))
    if verdict.more_problems:
        lines.append(f"  … and {verdict.more_problems:,} more")
    return "\n".join(lines)


def stretch(log: Path, public_key: str, decision_id: str) -> tuple[bool, str]:
    """Whether the line of `decision_id` lies in a stretch of `log` that a valid
    checkpoint signs with no problem in it; and the sentence that says so."""
    try:
        public = load_public_key(Path(public_key).read_bytes(), public_key)
    except OSError as error:
        raise UsageError(f"cannot read {public_key}: {error.strerror}") from None
    except KeyProblem as error:
        raise UsageError(str(error)) from None
    verdict = verify([log], public, focus=json.dumps(decision_id).encode())
    if verdict.focus_verified:
        return True, (
            f"log: this decision lies in a verified stretch ({verdict.focus_where}, signed by "
            f"key {verdict.key_id})"
        )
    why = "; ".join(f"{p.file}:{p.line}: {p.kind}" for p in verdict.problems[:3])
    return False, f"log: this decision is NOT in a verified stretch ({why or 'no checkpoint'})"
