"""Rule-file text → `RuleFile` AST, or a `RuleError` with every syntax error.

The file is cut into statements first: a statement starts at a line that is
not indented (or whose first word is a statement keyword), and continues on
indented lines. Each statement is parsed on its own, so a broken statement
does not hide the rest of the file; within a statement, `recover.py` reads on
past the mistakes it can repair, so that every error is reported in one run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from engine.language import ast
from engine.language.diagnostics import Diagnostic, RuleError
from engine.language.grammar import CONTINUATION_WORDS, STATEMENT_KEYWORDS
from engine.language.recover import Reading, read_statement
from engine.language.source import Source

_FIRST_WORD = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*|\S?)")


def parse(
    source: Source, read: Callable[[Source, int, int], Reading] = read_statement
) -> ast.RuleFile:
    """Parse a whole file; raise `RuleError` with every error of every broken statement.
    `read` reads one statement (`recover.read_statement`; the language services pass one
    that keeps each statement's reading between edits: `engine/services/incremental.py`).

    A broken statement that recovery could repair whole stays in the partial file
    (the checker reads it for the names and types of its line), and so does one
    whose only problem is a number that cannot be read (that number is an
    unknown value to the checker). One that cannot be checked leaves the names it
    may declare behind, so that the checker does not call them unknown: the names
    it declares when it was read whole, else all its words."""
    statements: list[ast.Statement] = []
    diagnostics: list[Diagnostic] = []
    words: set[str] = set()
    for start, end in split_statements(source.text):
        reading = read(source, start, end)
        diagnostics.extend(reading.diagnostics)
        if reading.statement is not None:
            statements.append(reading.statement)
        if reading.maybe_declared is not None:
            words.update(reading.maybe_declared)
        elif reading.statement is None:
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source.text[start:end]))
    if diagnostics:
        partial = ast.RuleFile(tuple(statements))
        raise PartialParse(source, diagnostics, partial, frozenset(words))
    return ast.RuleFile(tuple(statements), tuple(comments(source)))


class PartialParse(RuleError):
    """Syntax errors, with the statements that did parse (so the checker can still run)."""

    def __init__(
        self,
        source: Source,
        diagnostics: list[Diagnostic],
        partial: ast.RuleFile,
        words: frozenset[str],
    ):
        super().__init__(source, diagnostics)
        self.partial = partial
        self.words = words  # every word of the statements that failed


def split_statements(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of each statement's text: a statement ends where the next begins."""
    start: int | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        match = _FIRST_WORD.match(line)
        word = match.group(1) if match else ""
        indented = line[:1] in (" ", "\t")
        begins = word in STATEMENT_KEYWORDS or (
            not indented and word not in ("", "#") and word not in CONTINUATION_WORDS
        )
        if begins:
            if start is not None:
                yield start, offset
            start = offset
        elif start is None and word not in ("", "#"):
            start = offset  # an indented first line: parse it to report it
        offset += len(line)
    if start is not None:
        yield start, offset


def comments(source: Source) -> Iterator[ast.Comment]:
    """Comments with their spans; `own_line` tells a leading comment from a trailing one."""
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)', source.text):
        if match.group(1) is None:
            continue
        start = match.start(1)
        line_start = source.text.rfind("\n", 0, start) + 1
        own_line = source.text[line_start:start].strip() == ""
        yield ast.Comment(
            match.group(1).rstrip(), source.span(start, match.end(1)), own_line=own_line
        )
