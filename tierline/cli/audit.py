"""`tierline audit`: why did account X get tier T on day D?

Finds the decision in the log (streamed line by line: constant memory),
explains it, replays its logged input against the archived source of the
exact ruleset version it was made with, and against today's rules.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import IO, Any

import orjson

from engine import ClassifyError, Decision, RuleError, Ruleset
from engine.language.source import Source
from engine.load import check_source, read_source
from engine.python.terminal import json_printable, printable
from server.log_segments import (
    RECORD_PREFIX,
    read_segment,
    row_event,
    row_of,
    rows_of_account,
    segment_path,
)
from tierline.cli.common import Subparsers, UsageError, output_options, usage
from tierline.cli.verify import run_verify, stretch


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "audit",
        help="why was this account classified this way; `audit verify`: was the log altered",
    )
    parser.add_argument(
        "action", nargs="?", choices=("verify",), help="verify: check chains and signatures"
    )
    parser.add_argument(
        "--log", required=True, nargs="+", help="a decision log (verify: its files, rotated ones)"
    )
    parser.add_argument(
        "--public-key", metavar="KEY", help="the signer's public key (PEM): verify the log"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--decision", metavar="ID", help="a decision id, as returned to the caller")
    which.add_argument("--account", metavar="ID", help="an account id: its latest decision")
    parser.add_argument(
        "--at", metavar="TIME", help="with --account: the decision in force then (ISO 8601, UTC)"
    )
    parser.add_argument(
        "--archive", help="rule sources by digest (default: archive/ beside the log)"
    )
    parser.add_argument("--rules", default="rules", help="today's rules folder (default rules/)")
    output_options(parser)
    parser.set_defaults(run=run)


def _utc_iso(text: str) -> str:
    """--at as the log writes times; a bare date means the end of that day (UTC)."""
    if len(text) == 10:
        moment = datetime.combine(datetime.fromisoformat(text).date(), time.max, UTC)
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def run(args: argparse.Namespace) -> int:
    if args.action == "verify":
        return run_verify(args)
    if bool(args.decision) == bool(args.account):
        return usage(UsageError("give --decision ID or --account ID"))
    if len(args.log) != 1:
        return usage(UsageError("audit explains from one log file: give one --log"))
    log_path = Path(args.log[0])
    if not log_path.is_file():
        return usage(UsageError(f"no such log file: {args.log}"))
    archive = Path(args.archive) if args.archive else log_path.resolve().parent / "archive"
    try:
        at = _utc_iso(args.at) if args.at else ""
    except ValueError:
        return usage(UsageError(f"--at: not an ISO 8601 time: {args.at}"))
    try:
        event, archived, today, today_digest = audit(
            log_path,
            archive,
            Path(args.rules),
            decision_id=args.decision or "",
            account_id=args.account or "",
            at=at,
        )
    except AuditError as error:
        print(printable(f"tierline audit: {error}"), file=sys.stderr)
        return 1
    verified: tuple[bool, str] | None = None
    if args.public_key:
        try:
            verified = stretch(
                log_path, args.public_key, event.get("batch_id") or event["decision_id"]
            )
        except UsageError as error:
            return usage(error)
    code = 0 if not archived.ran or archived.same else 1
    if verified is not None and not verified[0]:
        code = 1
    if args.output == "json":
        text = json.dumps(
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
                "verified": None if verified is None else verified[0],
            },
            ensure_ascii=False,
        )
        print(json_printable(text))
    else:
        print(report(event, archived, today, today_digest))
        if verified is not None:
            print(printable(verified[1]))
    return code


class AuditError(Exception):
    """The question cannot be answered from this log (exit 1)."""


@dataclass
class Replay:
    ran: bool
    same: bool = False
    decision: Decision | None = None
    differences: list[str] = field(default_factory=list)
    why_not: str = ""


def find(
    log: IO[bytes],
    *,
    decision_id: str = "",
    account_id: str = "",
    at: str = "",
    log_path: Path | None = None,
) -> dict[str, Any]:
    """The decision with this id, or this account's latest decision at or before `at`.
    Decisions of a columnar batch are read from the segment its record points at
    (`server/log_segments.py`), relative to `log_path`'s folder."""
    in_batch = row_of(decision_id) if decision_id else None
    needle = orjson.dumps(in_batch[0] if in_batch else decision_id or account_id)
    best: dict[str, Any] | None = None
    for event in _events(log, needle, batches=bool(account_id)):
        if event.get("event") == "decision_batch":
            found = _in_segment(event, log_path, in_batch, account_id, at)
            if found is not None and decision_id:
                return found
            if found is not None and (best is None or found["ts"] >= best.get("ts", "")):
                best = found
            continue
        if decision_id and event.get("decision_id") == decision_id:
            return event
        ts = event.get("ts", "")
        in_force = not at or ts <= at
        if account_id and event.get("account_id") == account_id and in_force:
            best = event if best is None or ts >= best.get("ts", "") else best
    if best is None:
        what = (
            f"decision {decision_id}"
            if decision_id
            else f"account {account_id!r}" + (f" at or before {at}" if at else "")
        )
        raise AuditError(f"no {what} in the log")
    return best


def _in_segment(
    record: dict[str, Any],
    log_path: Path | None,
    in_batch: tuple[str, int] | None,
    account_id: str,
    at: str,
) -> dict[str, Any] | None:
    """The decision asked for in this batch's segment, if it is there."""
    if in_batch is not None:
        if record.get("batch_id") != in_batch[0]:
            return None
    elif at and str(record.get("ts", "")) > at:
        return None
    path = segment_path(record, log_path or Path("."))
    try:
        table = read_segment(path)
    except (OSError, ValueError) as error:
        if in_batch is None:
            print(
                printable(f"tierline audit: warning: cannot read the segment {path}: {error}"),
                file=sys.stderr,
            )
            return None
        raise AuditError(
            f"the decision's batch {record.get('batch_id')} points at the segment {path}, "
            f"which cannot be read: {error}"
        ) from None
    if in_batch is not None:
        row = in_batch[1]
        if row >= table.num_rows:
            return None
        refused = table.column("error")[row]
        if refused.is_valid:
            raise AuditError(
                f"row {row} of batch {in_batch[0]} was refused, so it got no decision: "
                f"{refused.as_py()}"
            )
        return row_event(record, table, row)
    rows = rows_of_account(table, account_id)
    return row_event(record, table, rows[-1]) if rows else None


def _events(log: IO[bytes], needle: bytes, batches: bool = False) -> Iterator[dict[str, Any]]:
    """Decision lines holding `needle`, and (with `batches`) every batch record."""
    for line in log:
        if needle not in line and not (batches and line.startswith(RECORD_PREFIX)):
            continue  # cheap filter before parsing: a million lines stay within seconds
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") in ("decision", "decision_batch"):
            yield event


def archived_ruleset(event: dict[str, Any], archive: Path) -> Ruleset:
    digest = event["digest"]
    path = archive / f"{digest}.tiers"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AuditError(
            f"the source of digest {digest[:12]}… is not in the archive {archive}: {error.strerror}"
        ) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise AuditError(f"{path} does not match its digest: the archive was changed")
    rule_file = (
        (event.get("rule") or {}).get("file")
        or event.get("rule_file")
        or f"{event['ruleset']}.tiers"
    )
    return Ruleset(check_source(Source(data.decode("utf-8"), rule_file), name=event["ruleset"]))


def replay(event: dict[str, Any], ruleset: Ruleset) -> Replay:
    masked = sorted((event.get("masked") or {}).keys())
    if masked:
        return Replay(
            False,
            why_not="the log masks " + ", ".join(masked) + ", so the input cannot be replayed",
        )
    try:
        decision = ruleset.classify(event["input"])
    except ClassifyError as error:
        return Replay(False, why_not=f"the logged input is refused: {error}")
    got = decision.to_dict()
    differences = []
    if got["tier"] != event["tier"]:
        differences.append(
            f"tier: logged {event['tier'] or 'none'}, replayed {got['tier'] or 'none'}"
        )
    if got["labels"] != event["labels"]:
        differences.append(f"labels: logged {event['labels']}, replayed {got['labels']}")
    if "reasons" not in event:  # a columnar batch's row: its segment keeps the rule's name
        logged_rule = (event.get("rule") or {}).get("name")
        replayed_rule = (got["rule"] or {}).get("name")
        if logged_rule != replayed_rule:
            differences.append(f"rule: logged {logged_rule}, replayed {replayed_rule}")
        return Replay(True, not differences, decision, differences)
    logged = [(r["rule"], r["text"], r["result"], r["observed"]) for r in event.get("reasons", [])]
    replayed = [(r["rule"], r["text"], r["result"], r["observed"]) for r in got["reasons"]]
    if logged != replayed:
        differences.append("reasons differ")
    return Replay(True, not differences, decision, differences)


def todays_ruleset(name: str, rules: Path) -> Ruleset | None:
    for path in sorted(rules.glob("*.tiers")):
        try:
            ruleset = Ruleset(check_source(read_source(path)))
        except (RuleError, OSError):
            continue
        if ruleset.name == name:
            return ruleset
    return None


def report(
    event: dict[str, Any], archived: Replay, today: Replay | None, today_digest: str | None
) -> str:
    """The audit for people. Everything in it came from the log or a rule file (ids,
    tiers, texts, set items: anyone's bytes), so each line is escaped for the terminal as
    it is made: a newline in an account id shows as `\\n` and cannot forge a line of
    the report, nor an ESC repaint it. Explanations keep their own newlines."""
    lines = [
        f"decision {event['decision_id']} at {event.get('ts')}",
        f"account {event.get('account_id') or '(no id)'}: tier {event['tier'] or 'none'}"
        + (f", labels {', '.join(event['labels'])}" if event.get("labels") else ""),
        f"ruleset {event['ruleset']} version {event.get('version') or '-'} "
        f"digest {event['digest']}",
    ]
    meta = [f"{k} {event[k]}" for k in ("caller", "rpc", "request_id", "peer") if event.get(k)]
    if meta:
        lines.append("call: " + ", ".join(meta))
    if event.get("batch_id"):
        lines.append(
            f"batch {event['batch_id']} row {event.get('row')}: segment {event.get('segment')}"
        )
    lines = [printable(line) for line in lines]
    lines.append("")
    if archived.ran and archived.decision is not None:
        lines.append(printable(archived.decision.explain(), newlines=True))
        lines.append("")
        if archived.same:
            lines.append("replay with the archived rules: same tier, labels and reasons ✓")
        else:
            lines.append("!!! REPLAY DIFFERS FROM THE LOG !!!")
            lines.extend(printable(f"  {d}") for d in archived.differences)
    else:
        lines.extend(printable(line) for line in _logged_reasons(event))
        lines.append(printable(f"replay not possible: {archived.why_not}"))
    lines.append("")
    verdict, differing = _today(event, today, today_digest)
    lines.append(printable(verdict))
    if differing is not None:
        explained = printable(differing.explain(), newlines=True)
        lines.extend("  " + line for line in explained.splitlines())
    return "\n".join(lines)


def _today(
    event: dict[str, Any], today: Replay | None, today_digest: str | None
) -> tuple[str, Decision | None]:
    """What today's rules say of the logged input, in one line, and today's decision
    when it differs (to be explained below that line)."""
    if today is None:
        return f"today: no ruleset named {event['ruleset']} is in the rules folder", None
    if not today.ran or today.decision is None:
        return f"today: {today.why_not}", None
    if today_digest == event["digest"]:
        return "today: the same rules (same digest) are in force", None
    if today.decision.tier == event["tier"] and today.same:
        changed = f"today (digest {(today_digest or '?')[:12]}…): the rules changed"
        return f"{changed}, but this account gets the same result", None
    return (
        f"today (digest {today_digest[:12] if today_digest else '?'}…): tier would be "
        f"{today.decision.tier or 'none'} instead of {event['tier'] or 'none'}",
        today.decision,
    )


def _logged_reasons(event: dict[str, Any]) -> list[str]:
    if "reasons" not in event:
        return [
            "conditions: a columnar batch keeps each row's input, tier, labels and rule, "
            "not its conditions (they are recomputed by a replay)"
        ]
    out = ["conditions as logged:"]
    for r in event.get("reasons", []):
        mark = "·" if r["result"] is None else "✓" if r["result"] else "✗"  # null: masked
        seen = ", ".join(f"{k} {v}" for k, v in r["observed"].items())
        out.append(
            f"  {mark} {r['rule']}: {r['text']} ({seen})"
            + (f": {r['gap']}" if r.get("gap") else "")
        )
    return out


def audit(
    log_path: Path,
    archive: Path,
    rules: Path,
    *,
    decision_id: str = "",
    account_id: str = "",
    at: str = "",
) -> tuple[dict[str, Any], Replay, Replay | None, str | None]:
    with open(log_path, "rb") as log:
        event = find(log, decision_id=decision_id, account_id=account_id, at=at, log_path=log_path)
    made_with = archived_ruleset(event, archive)
    if event.get("batch_id") and event.get("rule"):  # a segment keeps the rule's name
        rule = next((r for r in made_with.checked.tiers if r.name == event["rule"]["name"]), None)
        if rule is not None:
            event["rule"] = {
                "name": rule.name,
                "kind": rule.kind,
                "file": rule.file,
                "line": rule.line,
            }
    archived = replay(event, made_with)
    current = todays_ruleset(event["ruleset"], rules)
    today = replay(event, current) if current is not None else None
    return event, archived, today, current.digest if current else None
