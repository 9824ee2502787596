"""Language services: what an editor asks of a rule file, answered from its text.

Pure (source text + position in, answer out; no editor protocol, no I/O), shared
by `tierline lsp` (tierline/lsp) and the browser studio. Positions are 0-based
lines and characters counted in Unicode code points (Python `str` indices); a
protocol layer converts to its client's encoding (LSP: UTF-16 by default).

    from engine.services import Document, Position, Range
    doc = Document(text, path="rules/x.tiers")     # parses and checks lazily, once per text
    doc.diagnostics() -> list[Diagnostic]           # = `tierline check`: code, range, hint, witness
    doc.diagnostics(analysis=False)                 # without the solver's findings (fast, first)
    doc.hover(pos) -> Hover | None                  # .markdown, .range
    doc.complete(pos) -> list[Completion]           # .label, .kind, .detail, .insert_text
    doc.definition(pos) -> Range | None
    doc.references(pos, include_declaration=True) -> list[Range]
    doc.prepare_rename(pos) -> Range | None
    doc.rename(pos, new_name) -> list[TextEdit]     # RenameError (a ValueError) says why not
    doc.fixes(diagnostic) -> list[Fix]              # Fix(title, edits), from the hint, verified
    doc.inlay_hints(range=None) -> list[InlayHint]  # `10k` = 10,000; a let's type; a band's values
    doc.semantic_tokens(range=None) -> list[Token]  # .range, .kind (tokens.KINDS), .declaration
    doc.symbols() -> list[Symbol]                   # outline: inputs, levels, lets, tiers, …
    doc.examples() -> list[ExampleOutcome]          # range, passed, "expected micro, got nano"
    doc.formatted() -> str | None                   # = `tierline fmt`; None with syntax errors
    doc.node_path(pos) -> list[node]                # syntax nodes under a position, outermost first

The names an author declares (inputs, lets, levels, bands, tiers, labels) are
found with every use, `example` blocks included (names.py). A broken file is
answered from the statements that could be read (the parser recovers).
`StatementCache` (incremental.py) lets the successive versions of one document
re-read only the statements that changed: pass one as `Document(text, path,
cache=…)` and read only the newest version's answers.
"""

from engine.services.answers import (
    Completion,
    Diagnostic,
    ExampleOutcome,
    Fix,
    Hover,
    RenameError,
    Symbol,
)
from engine.services.document import Document
from engine.services.incremental import StatementCache
from engine.services.inlay import InlayHint
from engine.services.positions import Position, Range, TextEdit
from engine.services.tokens import KINDS as TOKEN_KINDS
from engine.services.tokens import Token

__all__ = [
    "TOKEN_KINDS",
    "Completion",
    "Diagnostic",
    "Document",
    "ExampleOutcome",
    "Fix",
    "Hover",
    "InlayHint",
    "Position",
    "Range",
    "RenameError",
    "StatementCache",
    "Symbol",
    "TextEdit",
    "Token",
]
