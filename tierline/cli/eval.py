"""`tierline eval RULES --input FILE|-`: classify JSON accounts, one decision JSON a line
(or `--explain` for people); `--log FILE` appends the service's decision-log lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from engine import ClassifyError, Decision, Ruleset
from engine.python.terminal import json_printable, printable
from engine.python.values import kind_of, preview
from tierline.cli.common import (
    Subparsers,
    UsageError,
    load_rules,
    output_options,
    settings_problems,
    usage,
)


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("eval", help="classify JSON accounts with a rule file")
    parser.add_argument("rules", metavar="RULES", help="a rule file")
    parser.add_argument(
        "--input",
        default="-",
        metavar="FILE",
        help="one JSON object, an array or JSON lines (- for stdin)",
    )
    parser.add_argument("--explain", action="store_true", help="print explanations, not JSON")
    parser.add_argument("--log", metavar="FILE", help="also append decision-log lines to FILE")
    parser.add_argument(
        "--id", default="id", metavar="FIELD", help="the field that names the account (default id)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse accounts with fields the rules do not declare"
    )
    output_options(parser)
    parser.set_defaults(run=run)


def _accounts(stream: TextIO) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or the error) for one object, an array, or JSON lines.
    JSON nested deeper than Python's parser follows (about 1,000 levels: it raises
    RecursionError), or a number of more than 4,300 digits (ValueError), is an error of
    its line, and the lines after it are still read."""
    text = stream.read()
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
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
        except RecursionError:
            yield n, ValueError("invalid JSON: nested too deeply to read")
        except ValueError as error:  # int(): "Exceeds the limit (4300 digits) …"
            yield n, ValueError(f"invalid JSON: {str(error).partition(':')[0]}")


def run(args: argparse.Namespace) -> int:
    path = Path(args.rules)
    if not path.is_file():
        return usage(UsageError(f"no such rule file: {args.rules}"))
    ruleset = load_rules(path, args)
    if ruleset is None:
        return 1
    try:
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        return usage(UsageError(f"cannot read {args.input}: {error.strerror}"))
    bad = 0
    try:
        log_writer, log_stream = _eval_log(args.log, ruleset) if args.log else (None, None)
    except ValidationError as error:  # e.g. hashed fields without TIERLINE_HASH_KEY
        settings_problems(error, "tierline eval")
        return 2
    warned: set[str] = set()
    classify = ruleset.classify_strict if args.strict else ruleset.classify
    with stream:
        for number, raw in _accounts(stream):
            try:
                if isinstance(raw, Exception):
                    raise raw
                account_id = _account_id(raw, args.id)
                account = {k: v for k, v in raw.items() if k != args.id} if account_id else raw
                decision = classify(account)
            except (ClassifyError, ValueError) as error:
                bad += 1
                print(printable(f"tierline: {args.input}:{number}: {error}"), file=sys.stderr)
                continue
            _warn_misspelled(decision, warned, f"{args.input}:{number}")
            shown_id = "" if account_id is None else str(account_id)
            if log_writer is not None:
                log_writer.write(decision, shown_id, "eval")
            if args.explain:
                # values from data came escaped; the rule file's own words may hold anything
                print(printable(decision.explain(), newlines=True) + "\n")
            else:
                out = {"account_id": account_id, **decision.to_dict()}
                print(json_printable(json.dumps(out, ensure_ascii=False, default=str)))
    if log_stream is not None:
        log_stream.close()
    return 1 if bad else 0


def _account_id(raw: Any, field: str) -> str | int | float | None:
    """The account's id: a text or a number (as the decision log keeps it), or None.
    Anything else is refused in words (a list nested 900 deep would fail in json.dumps)."""
    if not isinstance(raw, dict):
        return None
    found = raw.get(field)
    if found is None or (isinstance(found, str | int | float) and not isinstance(found, bool)):
        return found
    raise ValueError(
        f"{field}: expected a text or a number as the account's id, "
        f"got {preview(found)} ({kind_of(found)})"
    )


def _warn_misspelled(decision: Decision, warned: set[str], where: str) -> None:
    """Once a field: an ignored field close to an input is most likely a typo, and the
    input's default was used instead."""
    for name, hint in decision.ignored_hints:
        if name not in warned:
            warned.add(name)
            print(printable(f"tierline: {where}: '{name}' is ignored: {hint}"), file=sys.stderr)


def _eval_log(target: str, ruleset: Ruleset) -> tuple[Any, Any]:
    """`eval --log FILE`: the service's decision-log lines, and the source archived beside."""
    from server.log_lines import DecisionWriter, Masker, WriterConfig, open_log
    from server.logs import configure_logging
    from server.settings import Settings

    configure_logging()  # a line that cannot be written is said on stderr, not in the output

    archive = Path(target).resolve().parent / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    kept = archive / f"{ruleset.digest}.tiers"
    if not kept.exists():
        kept.write_text(ruleset.source, encoding="utf-8")
    settings = Settings.from_environment()  # the service's masking (TIERLINE_MASK_FIELDS…)
    config = WriterConfig(
        target,
        mask_fields=tuple(settings.mask_fields),
        hash_fields=tuple(settings.hash_fields),
        hash_key=settings.hash_key,
    )
    stream = open_log(target)
    return DecisionWriter(stream, Masker(config)), stream
