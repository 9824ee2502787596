"""Diagnostics for rule authors, rendered the way cel-go's ToDisplayString does.

A stage collects every problem it finds and raises one `RuleError` at its end,
so that an author sees all the errors of a file in one run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from engine.language.codes import PARSE_CODES, Diagnostic, Severity, counted, text
from engine.language.source import Source

__all__ = [  # Diagnostic and Severity are declared with the catalogue (codes.py)
    "MAX_MESSAGE",
    "MAX_PER_CODE",
    "SNIPPET_WIDTH",
    "Diagnostic",
    "RuleError",
    "Severity",
    "bounded",
    "closest",
    "did_you_mean",
    "render",
    "render_all",
    "to_json",
]

SNIPPET_WIDTH = 120
# At most this many diagnostics of one code are listed for a file; the rest are one
# summary diagnostic with their count (400 overlapping tiers made 79,800 diagnostics and
# 27 MB of text). The listed ones are the first by position, with their witnesses.
MAX_PER_CODE = 20
# A message or hint longer than this is cut in its middle (a rule can quote a text of
# megabytes; the line it is on is already shown cut to SNIPPET_WIDTH).
MAX_MESSAGE = 1_000


class RuleError(Exception):
    """The problems of one rule file. `str()` is what a rule author reads."""

    def __init__(self, source: Source, diagnostics: Sequence[Diagnostic]):
        self.source = source
        self.diagnostics = bounded(diagnostics)
        super().__init__(render_all(source, self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate a misspelled name or keyword most likely meant, if one is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.7)
    return matches[0] if matches else None


def bounded(
    diagnostics: Iterable[Diagnostic], per_code: int = MAX_PER_CODE, *, by_position: bool = True
) -> list[Diagnostic]:
    """The diagnostics sorted by position, at most `per_code` of each code, each message
    and hint at most MAX_MESSAGE characters: what a file's problems may cost wherever
    they travel (a terminal, a JSON report, an editor, a server's last load error).
    Beyond `per_code`, one summary diagnostic of the same code and severity, at the
    first one not listed, says how many more there are (`omitted`). Bounding bounded
    diagnostics again gives them back unchanged (summaries add up). `by_position=False`
    keeps the given order (the summaries last)."""
    ordered = sorted(diagnostics, key=_position) if by_position else list(diagnostics)
    kept: list[Diagnostic] = []
    listed: dict[str, int] = {}
    summary: dict[str, Diagnostic] = {}
    for diag in ordered:
        if not diag.omitted and listed.get(diag.code, 0) < per_code:
            listed[diag.code] = listed.get(diag.code, 0) + 1
            kept.append(_clipped(diag))
            continue
        more = diag.omitted or 1
        first = summary.get(diag.code, diag)
        worst = (
            Severity.ERROR if Severity.ERROR in (first.severity, diag.severity) else diag.severity
        )
        count = (first.omitted if first is not diag else 0) + more
        summary[diag.code] = Diagnostic(
            diag.code,
            text(
                "omitted",
                count=count,
                counted=counted(diag.code),
                code=diag.code,
                per_code=per_code,
            ),
            first.span,
            text("omitted-hint"),
            worst,
            omitted=count,
        )
    out = [*kept, *summary.values()]
    return sorted(out, key=_position) if by_position else out


def _position(diag: Diagnostic) -> tuple[int, bool, str, int]:
    return diag.span.start, diag.code not in PARSE_CODES, diag.code, diag.omitted


def _clipped(diag: Diagnostic) -> Diagnostic:
    message, hint = _clip(diag.message), None if diag.hint is None else _clip(diag.hint)
    if message is diag.message and hint is diag.hint:
        return diag
    return replace(diag, message=message, hint=hint)


def _clip(text: str) -> str:
    if len(text) <= MAX_MESSAGE:
        return text
    half = MAX_MESSAGE // 2
    return f"{text[:half]} … ({len(text) - 2 * half:,} characters cut) … {text[-half:]}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The hint for a misspelled name or keyword, if one candidate is close."""
    match = closest(word, candidates)
    return text("did-you-mean", match=match) if match else None


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
            **({"omitted": d.omitted} if d.omitted else {}),
        }
        for d in diagnostics
    ]


def _printable(line: str) -> str:
    """Tabs and control characters would shift the caret; show them as one cell."""
    return "".join(ch if ch.isprintable() else "·" for ch in line)
