"""`Document`: one version of a rule file's text and every answer an editor asks of it.

Each answer is computed on first use and kept (a document is one text; an edit
makes a new `Document`). Parsing recovers from errors, so a broken file still
has names, completion and hover for what could be read. The reading, names,
diagnostics, outline and examples are `DocumentCore`'s (core.py); hover,
completion, quick fixes, inlay hints and semantic tokens have a module each.
"""

from __future__ import annotations

from engine.services.answers import (
    Completion,
    Diagnostic,
    ExampleOutcome,
    Fix,
    Hover,
    RenameError,
    Symbol,
)
from engine.services.complete import complete
from engine.services.core import DocumentCore
from engine.services.fixes import fixes
from engine.services.hover import hover
from engine.services.inlay import InlayHint, inlay_hints
from engine.services.positions import Position, Range
from engine.services.tokens import Token, semantic_tokens

__all__ = [
    "Completion",
    "Diagnostic",
    "Document",
    "ExampleOutcome",
    "Fix",
    "Hover",
    "InlayHint",
    "RenameError",
    "Symbol",
    "Token",
]


class Document(DocumentCore):
    """One version of a rule file (see DocumentCore for `path`, `cache`, `solver_ms`)."""

    _tokens: list[Token] | None = None

    def hover(self, position: Position, language: str = "en") -> Hover | None:
        """What the name or number under the cursor is (hover.py), in `language`."""
        return hover(self, self.lines.offset(position), language)

    def complete(self, position: Position) -> list[Completion]:
        """What may be written at the cursor (complete.py)."""
        return complete(self, self.lines.offset(position))

    def fixes(self, diagnostic: Diagnostic) -> list[Fix]:
        """Quick fixes from the diagnostic's hint, each checked to work (fixes.py)."""
        return fixes(self, diagnostic)

    def inlay_hints(self, within: Range | None = None, language: str = "en") -> list[InlayHint]:
        """Values of shorthand numbers, types of lets, the values of a band where a
        condition uses it (inlay.py), said in `language`."""
        return inlay_hints(self, within, language)

    def semantic_tokens(self, within: Range | None = None) -> list[Token]:
        """What each word is (input, level, band, tier, keyword, …), for highlighting
        (tokens.py)."""
        if within is not None:
            return semantic_tokens(self, within)
        if self._tokens is None:  # asked again for the same version (a scroll, a theme)
            self._tokens = semantic_tokens(self)
        return self._tokens
