"""Parsing a file again after an edit without reading every statement again.

`engine.language.parse` reads a file one statement at a time, and no statement's
reading depends on another's: only its place in the file does (the spans). A
`StatementCache` keeps each statement's reading by its text, read as if the
statement began the file's second line (the first line's hints differ), and
moves its spans to where the statement now is. Typing in a file of 1,000 tiers
then reads one statement again instead of 1,000 (the whole file took 0.6 s on
the project machine, a statement about a millisecond).

The spans are moved in place: building new nodes for every statement after the
cursor cost 100-200 ms a keystroke, setting their spans costs a tenth of that.
So the syntax trees a cache gave for one version of a document move when it
parses the next version: a cache serves the successive versions of ONE document,
and only the newest version's results are to be read (`tierline lsp` does so).
Without a cache (`Document(text)`), nothing is shared.

The result equals `parse(source)`, spans and diagnostics included
(tests/test_lsp_services.py holds that on every shipped rule file and on edits).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from engine.analysis.memo import AnalysisMemo
from engine.language import ast
from engine.language.diagnostics import Diagnostic
from engine.language.parse import parse
from engine.language.recover import Reading, read_statement
from engine.language.source import Source, Span

_set = object.__setattr__


class _Placed:
    """One reading of a statement's text, and where its spans currently are."""

    __slots__ = ("by", "holders", "lines", "reading")

    def __init__(self, reading: Reading):
        self.reading = reading
        self.holders: list[tuple[Any, Span]] = []  # every node with a span, and it at (0, 0)
        _collect(reading.statement, self.holders)
        _collect(reading.diagnostics, self.holders)
        self.by = 0
        self.lines = 0

    def move(self, by: int, lines: int) -> Reading:
        if by != self.by or lines != self.lines:
            for node, span in self.holders:
                _set(
                    node, "span", Span(span.start + by, span.end + by, span.line + lines, span.col)
                )
            self.by, self.lines = by, lines
        return self.reading


def _collect(node: Any, out: list[tuple[Any, Span]]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is tuple:
            stack.extend(item)
            continue
        fields = _FIELDS.get(kind)
        if fields is None:
            continue
        for name in fields:
            value = getattr(item, name)
            if name == "span":
                out.append((item, value))
            elif type(value) not in _ATOMS:
                stack.append(value)


class StatementCache:
    """Readings of statements by their text, for the versions of one document; the
    readings of at most `size` distinct statement texts are kept (least recently used
    go first). Not thread-safe."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._readings: OrderedDict[tuple[str, bool], list[_Placed]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self._scratch: StatementCache | None = None
        # the analysis's results for these versions, by what each read (memo.py): an
        # edit asks the solver again only about the statements it touched
        self.analysis = AnalysisMemo()

    def scratch(self) -> StatementCache:
        """A second cache for texts that are not versions of the document (what a quick
        fix would make): reading them must not move the spans of the newest version."""
        if self._scratch is None:
            self._scratch = StatementCache(self.size)
        return self._scratch

    def parse(self, source: Source) -> ast.RuleFile:
        """What `engine.language.parse.parse` gives (raising PartialParse the same way),
        from the readings kept; each statement not seen before is read."""
        used: dict[tuple[str, bool], int] = {}  # a text written twice needs two readings
        self.analysis.generation += 1  # before any span moves: see engine/analysis/memo.py
        try:
            return parse(source, lambda src, start, end: self._read(src, start, end, used))
        finally:
            while len(self._readings) > self.size:
                self._readings.popitem(last=False)

    def _read(
        self, source: Source, start: int, end: int, used: dict[tuple[str, bool], int]
    ) -> Reading:
        """The reading of source.text[start:end], kept from an earlier version where the
        same text stood (its spans moved to where it stands now), else read alone."""
        statement_text = source.text[start:end]
        first = start == 0  # only a statement on the first line is read at line 1
        key = (statement_text, first)
        placed = self._readings.get(key)
        nth = used.get(key, 0)
        used[key] = nth + 1
        if placed is None or nth >= len(placed):
            self.misses += 1
            alone = Source(statement_text if first else "\n" + statement_text, source.path)
            entry = _Placed(read_statement(alone, 0 if first else 1, len(alone.text)))
            self._readings.setdefault(key, []).append(entry)
        else:
            self.hits += 1
            self._readings.move_to_end(key)
            entry = placed[nth]
        if first:
            return entry.reading
        line = source.span(start, start).line - 1
        return entry.move(start - 1, line - 1)


def _node_fields() -> dict[type, tuple[str, ...]]:
    found: dict[type, tuple[str, ...]] = {}
    for value in vars(ast).values():
        if isinstance(value, type) and hasattr(value, "__dataclass_fields__"):
            found[value] = tuple(value.__dataclass_fields__)
    found[Diagnostic] = ("span",)
    return found


_FIELDS = _node_fields()
_ATOMS = frozenset([str, int, float, bool, type(None), ast.TypeName])
