"""Diagnostics for rule authors, rendered the way cel-go's ToDisplayString does.

A stage collects every problem it finds and raises one `RuleError` at its end,
so that an author sees all the errors of a file in one run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.language.source import Source, Span

SNIPPET_WIDTH = 120


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str  # stable, machine-readable: "unknown-name"
    message: str
    span: Span
    hint: str | None = None
    severity: Severity = Severity.ERROR
    # An account that shows the finding (input -> value as the Python API takes it),
    # replayed through the evaluator before it was attached; None when none can.
    witness: dict[str, Any] | None = field(default=None, compare=False, hash=False)


class RuleError(Exception):
    """The problems of one rule file. `str()` is what a rule author reads."""

    def __init__(self, source: Source, diagnostics: Sequence[Diagnostic]):
        self.source = source
        self.diagnostics = sorted(diagnostics, key=_reading_order)
        super().__init__(render_all(source, self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


# What the parser reports about how a thing is written: at one spot, it comes before
# what the checker says about the same thing (read `3,5` as `3.5`, then: 3.5 what?).
PARSE_CODES = frozenset(
    ["syntax", "unexpected-character", "ambiguous-number", "number-too-large", "too-deep"]
)


def _reading_order(diagnostic: Diagnostic) -> tuple[int, bool, str]:
    return diagnostic.span.start, diagnostic.code not in PARSE_CODES, diagnostic.code


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate a misspelled name or keyword most likely meant, if one is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.7)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The hint for a misspelled name or keyword, if one candidate is close."""
    match = closest(word, candidates)
    return f"did you mean '{match}'?" if match else None


def render(source: Source, diag: Diagnostic) -> str:
    """One diagnostic: location and message, the source line, a caret, the hint."""
    span = diag.span
    head = f"{diag.severity.value.upper()}: {source.path}:{span.line}:{span.col}: {diag.message}"
    line = source.line_text(span.line)
    col = span.col - 1
    width = max(1, min(span.end - span.start, len(line) - col))
    prefix = ""
    if len(line) > SNIPPET_WIDTH:  # keep very long lines readable around the caret
        begin = max(0, min(col - SNIPPET_WIDTH // 3, len(line) - SNIPPET_WIDTH))
        line = line[begin : begin + SNIPPET_WIDTH]
        col -= begin
        width = max(1, min(width, len(line) - col))
        prefix = "…" if begin else ""
    dots = "." * (col + len(prefix))
    lines = [
        f"{head} [{diag.code}]",
        f" | {prefix}{_printable(line)}",
        f" | {dots}{'^' * width}",
    ]
    if diag.hint:
        lines.append(f" = {diag.hint}")
    return "\n".join(lines)


def render_all(source: Source, diagnostics: Iterable[Diagnostic]) -> str:
    return "\n".join(render(source, d) for d in diagnostics)


def to_json(source: Source, diagnostics: Iterable[Diagnostic]) -> list[dict[str, Any]]:
    """The machine shape of diagnostics (editors, CI bots): one object each."""
    return [
        {
            "file": source.path,
            "line": d.span.line,
            "column": d.span.col,
            "end": d.span.end - d.span.start,
            "severity": d.severity.value,
            "code": d.code,
            "message": d.message,
            "hint": d.hint,
            **({"witness": d.witness} if d.witness is not None else {}),
        }
        for d in diagnostics
    ]


def _printable(line: str) -> str:
    """Tabs and control characters would shift the caret; show them as one cell."""
    return "".join(ch if ch.isprintable() else "·" for ch in line)
