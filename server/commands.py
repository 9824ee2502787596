"""What each `tierline` subcommand does; cli.py only parses arguments."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from engine.diagnostics import Diagnostic, RuleError, render_all, to_json
from engine.format import format_source
from engine.load import check_source, decode, read_source
from engine.source import Source

RED, YELLOW, CYAN, BOLD, RESET = "\033[31m", "\033[33m", "\033[36m", "\033[1m", "\033[0m"


class UsageError(Exception):
    pass


def rule_files(paths: list[str]) -> Iterator[Path]:
    """Files as given, and every `*.tiers` below a folder, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.tiers") if p.is_file())
        elif path.exists():
            yield path
        else:
            raise UsageError(f"no such file or folder: {raw}")


def use_color(args: argparse.Namespace, stream: TextIO) -> bool:
    if args.color == "always":
        return True
    if args.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


def paint(text: str, color: bool) -> str:
    """Colour the heads, carets and hints of rendered diagnostics."""
    if not color:
        return text
    out = []
    for line in text.splitlines():
        if line.startswith("ERROR:"):
            line = f"{BOLD}{RED}ERROR{RESET}{BOLD}{line[5:]}{RESET}"
        elif line.startswith("WARNING:"):
            line = f"{BOLD}{YELLOW}WARNING{RESET}{BOLD}{line[7:]}{RESET}"
        elif line.startswith(" | ") and line.rstrip().endswith("^") and set(line[3:]) <= {".", "^"}:
            line = " | " + line[3:].replace(".", " ").replace("^", f"{RED}^", 1) + RESET
        elif line.startswith(" = "):
            line = f" = {CYAN}{line[3:]}{RESET}"
        out.append(line)
    return "\n".join(out)


def _report(args: argparse.Namespace, source: Source, diagnostics: list[Diagnostic]) -> None:
    if args.output == "json":
        for item in to_json(source, diagnostics):
            print(json.dumps(item, ensure_ascii=False))
    elif diagnostics:
        print(paint(render_all(source, diagnostics), use_color(args, sys.stdout)))


def _usage(error: UsageError) -> int:
    print(f"tierline: {error}", file=sys.stderr)
    return 2


def check(args: argparse.Namespace) -> int:
    try:
        files = list(rule_files(args.paths))
    except UsageError as error:
        return _usage(error)
    errors = warnings = 0
    for path in files:
        try:
            source = read_source(path)
            found = list(check_source(source).warnings)
        except RuleError as error:
            source, found = error.source, error.diagnostics
        except OSError as error:
            print(f"tierline: cannot read {path}: {error.strerror}", file=sys.stderr)
            errors += 1
            continue
        _report(args, source, found)
        n_errors = sum(1 for d in found if d.severity.value == "error")
        errors += n_errors
        warnings += len(found) - n_errors
    if args.output == "text":
        summary = f"checked {len(files)} file{'s' * (len(files) != 1)}: "
        print(summary + f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def fmt(args: argparse.Namespace) -> int:
    if args.paths == ["-"]:
        return _fmt_stream(args)
    try:
        files = list(rule_files(args.paths))
    except UsageError as error:
        return _usage(error)
    status = 0
    for path in files:
        try:
            source = read_source(path)
            formatted = format_source(source)
        except RuleError as error:
            _report(args, error.source, error.diagnostics)
            status = 1
            continue
        if formatted == source.text:
            continue
        if args.check:
            diff = difflib.unified_diff(
                source.text.splitlines(keepends=True),
                formatted.splitlines(keepends=True),
                f"{path} (as written)",
                f"{path} (formatted)",
            )
            sys.stdout.writelines(diff)
            status = 1
        else:
            path.write_text(formatted, encoding="utf-8")
            print(f"formatted {path}", file=sys.stderr)
    return status


def _fmt_stream(args: argparse.Namespace) -> int:
    try:
        source = decode(sys.stdin.buffer.read(), "<stdin>")
        formatted = format_source(source)
    except RuleError as error:
        _report(args, error.source, error.diagnostics)
        return 1
    if args.check:
        return 0 if formatted == source.text else 1
    sys.stdout.write(formatted)
    return 0
