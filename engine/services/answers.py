"""What the language services answer: plain data, positions in code points."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from engine.language import ast
from engine.language.diagnostics import Diagnostic as EngineDiagnostic
from engine.services.positions import Range, TextEdit


class RenameError(ValueError):
    """A rename that cannot be done; the message says why, for the author."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A diagnostic as `tierline check` gives it, with an editor's range."""

    range: Range
    code: str
    message: str
    severity: Literal["error", "warning"]
    hint: str | None = None
    witness: dict[str, Any] | None = field(default=None, compare=False)
    omitted: int = 0
    engine: EngineDiagnostic | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Hover:
    markdown: str
    range: Range


@dataclass(frozen=True, slots=True)
class Completion:
    label: str
    kind: str  # keyword, input, let, level, band, tier, label, text, type, operator
    detail: str = ""
    insert_text: str | None = None  # None: the label


@dataclass(frozen=True, slots=True)
class Fix:
    title: str
    edits: list[TextEdit]


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    kind: str  # ruleset, input, level, band, let, tier, label, example
    range: Range  # the whole statement (or band)
    selection_range: Range  # its name
    detail: str = ""
    children: tuple[Symbol, ...] = ()


@dataclass(frozen=True, slots=True)
class ExampleOutcome:
    description: str
    range: Range  # the `example` statement
    passed: bool
    message: str  # "passes", or "expected micro, got nano"


def number_value(number: ast.Number) -> str:
    """A number literal's exact value as a reader writes it: 10,000; 0.035."""
    exact = Decimal(repr(number.value))
    if exact == exact.to_integral_value():
        return f"{int(exact):,}"
    return format(exact.normalize(), "f")
