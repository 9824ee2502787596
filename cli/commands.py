"""What each `tierline` subcommand does; main.py only parses arguments."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from engine import ClassifyError, Ruleset, load_ruleset
from engine.language.diagnostics import Diagnostic, RuleError, render_all, to_json
from engine.language.format import format_source
from engine.language.source import Source
from engine.load import check_source, decode, read_source

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


def _load(path: Path, args: argparse.Namespace) -> Ruleset | None:
    try:
        return load_ruleset(path)
    except RuleError as error:
        _report(args, error.source, error.diagnostics)
    except OSError as error:
        print(f"tierline: cannot read {path}: {error.strerror}", file=sys.stderr)
    return None


def test(args: argparse.Namespace) -> int:
    try:
        files = list(rule_files(args.paths))
    except UsageError as error:
        return _usage(error)
    color = use_color(args, sys.stdout)
    ok_mark = f"{BOLD}ok{RESET}" if color else "ok"
    fail_mark = f"{BOLD}{RED}FAIL{RESET}" if color else "FAIL"
    passed = failed = broken = 0
    for path in files:
        ruleset = _load(path, args)
        if ruleset is None:
            broken += 1
            continue
        for result in ruleset.run_examples():
            line = result.example.span.line
            where = f"{path}:{line}"
            if result.passed:
                passed += 1
                if args.verbose:
                    print(f"{ok_mark}   {where} {result.example.description}")
                continue
            failed += 1
            print(f"{fail_mark} {where} {result.example.description}")
            print(f"  expected {result.expected()}")
            print(f"  got      {result.got()}")
            if result.decision is not None:
                print("  " + result.decision.explain().replace("\n", "\n  "))
    summary = f"{passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} file(s) with errors"
    print(summary)
    return 1 if failed or broken else 0


def _accounts(stream: TextIO) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or the error) for one object, an array, or JSON lines."""
    text = stream.read()
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    else:
        if isinstance(whole, list):
            yield from ((n, item) for n, item in enumerate(whole, 1))
        else:
            yield 1, whole
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as error:
            yield n, ValueError(f"invalid JSON: {error.msg} (column {error.colno})")


def eval_(args: argparse.Namespace) -> int:
    path = Path(args.rules)
    if not path.is_file():
        return _usage(UsageError(f"no such rule file: {args.rules}"))
    ruleset = _load(path, args)
    if ruleset is None:
        return 1
    try:
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        return _usage(UsageError(f"cannot read {args.input}: {error.strerror}"))
    bad = 0
    log_writer, log_stream = _eval_log(args.log, ruleset) if args.log else (None, None)
    with stream:
        for number, account in _accounts(stream):
            try:
                if isinstance(account, Exception):
                    raise account
                decision = ruleset.classify(account)
            except (ClassifyError, ValueError) as error:
                bad += 1
                print(f"tierline: {args.input}:{number}: {error}", file=sys.stderr)
                continue
            if log_writer is not None:
                log_writer.write(decision, str(account.get("id", "")), "eval")
            if args.explain:
                print(decision.explain() + "\n")
            else:
                print(json.dumps(decision.to_dict(), ensure_ascii=False))
    if log_stream is not None:
        log_stream.close()
    return 1 if bad else 0


def _eval_log(target: str, ruleset: Ruleset) -> tuple[Any, Any]:
    """`eval --log FILE`: the service's decision-log lines, and the source archived beside."""
    from server.log_writer import DecisionWriter, Masker, WriterConfig, open_log
    from server.logs import configure_logging

    configure_logging()  # a line that cannot be written is said on stderr, not in the output

    archive = Path(target).resolve().parent / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    kept = archive / f"{ruleset.digest}.tiers"
    if not kept.exists():
        kept.write_text(ruleset.source, encoding="utf-8")
    stream = open_log(target)
    return DecisionWriter(stream, Masker(WriterConfig(target))), stream


def serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from server.app import serve as run_server
    from server.logs import configure_logging
    from server.settings import Settings

    flags = {
        key: value
        for key in (
            "rules",
            "host",
            "port",
            "default_ruleset",
            "decision_log",
            "archive",
            "metrics_port",
            "watch",
            "log_when_full",
        )
        if (value := getattr(args, key)) is not None
    }
    try:
        settings = Settings(**flags)
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(p) for p in problem["loc"])
            print(f"tierline serve: {field}: {problem['msg']}", file=sys.stderr)
        return 2
    if not settings.rules.is_dir():
        return _usage(UsageError(f"no such rules folder: {settings.rules}"))
    configure_logging()
    try:
        return run_server(settings)
    except OSError as error:
        print(f"tierline serve: {error}", file=sys.stderr)
        return 1


def _utc_iso(text: str) -> str:
    """--at as the log writes times; a bare date means the end of that day (UTC)."""
    from datetime import UTC, datetime, time

    if len(text) == 10:
        moment = datetime.combine(datetime.fromisoformat(text).date(), time.max, UTC)
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def audit(args: argparse.Namespace) -> int:
    from cli.audit import AuditError, report
    from cli.audit import audit as run_audit

    if bool(args.decision) == bool(args.account):
        return _usage(UsageError("give --decision ID or --account ID"))
    log_path = Path(args.log)
    if not log_path.is_file():
        return _usage(UsageError(f"no such log file: {args.log}"))
    archive = Path(args.archive) if args.archive else log_path.resolve().parent / "archive"
    try:
        at = _utc_iso(args.at) if args.at else ""
    except ValueError:
        return _usage(UsageError(f"--at: not an ISO 8601 time: {args.at}"))
    try:
        event, archived, today, today_digest = run_audit(
            log_path,
            archive,
            Path(args.rules),
            decision_id=args.decision or "",
            account_id=args.account or "",
            at=at,
        )
    except AuditError as error:
        print(f"tierline audit: {error}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(
            json.dumps(
                {
                    "decision": event,
                    "replay": {
                        "ran": archived.ran,
                        "same": archived.same,
                        "differences": archived.differences,
                        "why_not": archived.why_not or None,
                    },
                    "today": None
                    if today is None
                    else {
                        "digest": today_digest,
                        "ran": today.ran,
                        "tier": today.decision.tier if today.decision else None,
                        "labels": list(today.decision.labels) if today.decision else None,
                        "same_as_logged": today.same,
                        "why_not": today.why_not or None,
                    },
                },
                ensure_ascii=False,
            )
        )
    else:
        print(report(event, archived, today, today_digest))
    return 0 if not archived.ran or archived.same else 1
