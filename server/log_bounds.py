"""A decision-log line stays small, whatever values the caller sent.

A 30 MB topic once became a 90 MB log line (the input, and the reasons that
observed it twice). A line longer than `MAX_LINE_BYTES` has each long value
that came from the caller cut: a text to its first `MAX_VALUE_CHARS`
characters and "…", a list to its first `MAX_ITEMS` items. For the audit,
the line then holds `"cut"`: for each cut value, where it was (`input.topics`,
`reasons.4.observed.topics`, `account_id`) with its full `length` (characters
of a text, items of a list) and the `sha256` of the full value (of a text's
UTF-8 bytes; of a list's compact JSON as the line would have held it, a set
sorted, as `orjson.dumps` writes it), so a
value kept elsewhere can be proved to be the one decided on. Tier, rule,
labels and each reason's result are never cut: they were computed from the
full values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

MAX_LINE_BYTES = 64 * 1024
MAX_VALUE_CHARS = 1024
MAX_ITEMS = 100


def _digest(value: Any) -> str:
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else orjson.dumps(value)
    return hashlib.sha256(data).hexdigest()


def _cut(value: Any, where: str, cuts: dict[str, Any]) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        cuts[where] = {"length": len(value), "sha256": _digest(value)}
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, list):
        kept = value[:MAX_ITEMS]
        short = [
            v[:MAX_VALUE_CHARS] + "…" if isinstance(v, str) and len(v) > MAX_VALUE_CHARS else v
            for v in kept
        ]
        if len(value) > MAX_ITEMS or short != kept:
            cuts[where] = {"length": len(value), "sha256": _digest(value)}
        return short
    return value


def bounded_line(line: bytes) -> bytes:
    """The line as it is when short enough; else with the caller's long values cut."""
    if len(line) <= MAX_LINE_BYTES:
        return line
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:  # an integer past 64 bits (a let can make one)
        event = json.loads(line)
    cuts: dict[str, Any] = {}
    for key in ("account_id", "request_id", "ignored_fields"):
        if key in event:
            event[key] = _cut(event[key], key, cuts)
    values = event.get("input")
    if isinstance(values, dict):
        for name, value in values.items():
            values[name] = _cut(value, f"input.{name}", cuts)
    for index, reason in enumerate(event.get("reasons") or ()):
        observed = reason.get("observed") if isinstance(reason, dict) else None
        if isinstance(observed, dict):
            for name, value in observed.items():
                observed[name] = _cut(value, f"reasons.{index}.observed.{name}", cuts)
    if cuts:
        event["cut"] = cuts
    try:
        return orjson.dumps(event) + b"\n"
    except TypeError:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def bounded_lines(lines: list[bytes]) -> bytes:
    """Lines joined; each long one bounded (one look at the lengths when none is)."""
    if max(map(len, lines), default=0) > MAX_LINE_BYTES:
        lines = [bounded_line(line) for line in lines]
    return b"".join(lines)
