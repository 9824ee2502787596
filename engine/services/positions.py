"""Positions in a document as editors name them, and the edits made to it.

A `Position` is 0-based and counts characters in Unicode code points (Python's
`str` indexing), which is what the engine's offsets are. The Language Server
Protocol counts in UTF-16 code units by default: `tierline lsp` converts at
its edge (pygls's position codec), so nothing here knows about encodings.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from engine.language.source import Span


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """0-based line and character (Unicode code points) in a document."""

    line: int
    character: int


@dataclass(frozen=True, slots=True)
class Range:
    """A half-open range [start, end) between two positions."""

    start: Position
    end: Position

    def contains(self, position: Position) -> bool:
        """Whether `position` is in the range, its end included (a cursor just after a
        word is on that word, as editors take it)."""
        return self.start <= position <= self.end


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace the text of `range` by `new_text`."""

    range: Range
    new_text: str


_NEWLINE = re.compile("\n")


class LineIndex:
    """Offsets ↔ positions of one text, in O(log lines)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        self.starts.extend(match.end() for match in _NEWLINE.finditer(text))  # C speed

    def position(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return Position(line, offset - self.starts[line])

    def offset(self, position: Position) -> int:
        """The offset of a position; a line past the end is the end, a character past
        the end of its line is the line's end (as the protocol asks)."""
        if position.line < 0:
            return 0
        if position.line >= len(self.starts):
            return len(self.text)
        start = self.starts[position.line]
        end = (
            self.starts[position.line + 1] - 1
            if position.line + 1 < len(self.starts)
            else len(self.text)
        )
        return start + max(0, min(position.character, end - start))

    def range(self, start: int, end: int) -> Range:
        return Range(self.position(start), self.position(end))

    def span_range(self, span: Span) -> Range:
        return self.range(span.start, span.end)
