"""Semantic tokens: what each word of a rule file is, for editors that highlight from
the language server (Neovim's built-in client with no grammar for rule files; VS
Code on top of our TextMate grammar).

A TextMate grammar sees words; the language server knows names. `followers` in
`tier micro when followers at least 10k` is an input because the file declares
one, `high` in `engagement high` a band of that level, `micro` a tier. So the
file is split into words, numbers, texts, comments and operators (by a regular
expression: a broken statement is highlighted too), and each word that is a
name the file declares or uses takes its kind from the name index (names.py):
input, let, level, band, tier, label, with `declaration` where it is declared.
The words of the language are keywords; type names are types. A word that is
neither (a misspelling) gets no token: the editor leaves it plain.
"""

from __future__ import annotations

import bisect
import re
from typing import NamedTuple

from engine.language import ast
from engine.language.grammar import keywords
from engine.services.core import DocumentCore
from engine.services.names import Occurrence
from engine.services.positions import Position, Range

# The kinds of token, in the order of the LSP legend (tierline/lsp maps them to the
# protocol's standard types, so that every colour theme colours them).
KINDS = (
    "keyword",
    "input",
    "let",
    "level",
    "band",
    "tier",
    "label",
    "number",
    "string",
    "comment",
    "type",
    "operator",
    "ruleset",
)

_LEXER = re.compile(
    r"""(?P<comment>\#[^\r\n]*)
      | (?P<string>"(?:[^"\\\r\n]|\\.)*"?)
      | (?P<type>\bset[ \t]+of[ \t]+text\b)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<number>\d[\d_]*(?:\.\d+)?(?:%|[kKmMbB](?![A-Za-z0-9_]))?)
      | (?P<operator>>=|<=|==|!=|[<>=+\-*/≥≤])""",
    re.VERBOSE,
)
_TYPES = frozenset(["count", "number", "percent", "text", "flag"])
_WORDS = keywords() | {"at", "least", "most", "none"}


class Token(NamedTuple):
    """One token, on one line: where it starts (0-based line and character, in code
    points), its length, its kind (one of KINDS) and whether it declares its name. A
    tuple: a 1,000-tier file has 22,000 tokens, built again after each edit."""

    line: int
    character: int
    length: int
    kind: str
    declaration: bool = False

    @property
    def range(self) -> Range:
        return Range(
            Position(self.line, self.character), Position(self.line, self.character + self.length)
        )


def semantic_tokens(doc: DocumentCore, within: Range | None = None) -> list[Token]:
    """The tokens of the file in order (those that meet `within`, when given)."""
    text = doc.text
    start, end = 0, len(text)
    if within is not None:
        start = text.rfind("\n", 0, doc.lines.offset(within.start)) + 1
        end = text.find("\n", doc.lines.offset(within.end))
        end = len(text) if end < 0 else end
    by_start = {o.span.start: o for o in doc.names.occurrences}
    declared_kinds = _value_kinds(doc)
    ruleset_names = _ruleset_names(doc)
    starts = doc.lines.starts
    line = max(0, bisect.bisect_right(starts, start) - 1)
    found: list[Token] = []
    for match in _LEXER.finditer(text, start, end):
        group = match.lastgroup
        assert group is not None
        at, until = match.start(), match.end()
        kind: str | None = group
        declaration = False
        if group == "word":
            word = match.group()
            occurrence = by_start.get(at)
            if occurrence is not None and occurrence.span.end == until:
                kind = _kind(occurrence, declared_kinds)
                declaration = occurrence.declaration
            elif at in ruleset_names:
                kind, declaration = "ruleset", True
            elif word in _TYPES:
                kind = "type"
            elif word in _WORDS:
                kind = "keyword"
            else:
                kind = None
        if kind is None:
            continue
        while line + 1 < len(starts) and starts[line + 1] <= at:  # tokens come in order
            line += 1
        found.append(Token(line, at - starts[line], until - at, kind, declaration))
    return found


def _kind(occurrence: Occurrence, value_kinds: dict[str, str]) -> str | None:
    """A name's kind: its declaration's (an input, let or level is a `value` where it
    is used); a used name the file does not declare gets none."""
    key = occurrence.key
    if key[0] == "value":
        return occurrence.kind if occurrence.declaration else value_kinds.get(key[-1])
    return key[0]  # band, tier, label


def _value_kinds(doc: DocumentCore) -> dict[str, str]:
    return {
        name: occurrence.kind
        for kind in ("input", "let", "level")
        for name, occurrence in doc.names.declared(kind).items()
    }


def _ruleset_names(doc: DocumentCore) -> set[int]:
    return {
        stmt.name.span.start
        for stmt in doc.rule_file.statements
        if isinstance(stmt, ast.RulesetDecl)
    }
