"""A statement's text as repaired so far, and where each character was written.

Recovery (`recover.py`) repairs the mistakes it knows (`3,5%` → `3.5%`, `≥` →
`>=`) and parses the statement again, so that it can read past them. Repairs
change the text and its length; the diagnostics and syntax-tree spans found
afterwards must still point at what the author wrote. `Draft` keeps, for each
offset of the repaired text, the offset in the text as written.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.language.source import Source, Span

Edit = tuple[int, int, str]  # replace text[start:end] (offsets in the draft) by this


class Draft:
    def __init__(self, source: Source, base: int, text: str):
        self.source = source
        self.base = base  # where the statement starts in the file
        self.text = text
        self._origin = list(range(len(text) + 1))  # draft offset -> offset as written
        self.repairs: list[tuple[int, int, str]] = []  # (start, end) as written, and the spelling

    def origin(self, offset: int) -> int:
        """The offset in the statement as written of `offset` in the draft."""
        return self._origin[max(0, min(offset, len(self.text)))]

    def span(self, start: int, end: int) -> Span:
        """A file span for draft offsets, pointing at the text as written."""
        return self.source.span(self.base + self.origin(start), self.base + self.origin(end))

    def apply(self, edits: Iterable[Edit]) -> None:
        """Apply non-overlapping edits given in draft offsets (any order), in one pass."""
        text: list[str] = []
        origin: list[int] = []
        done = 0
        for start, end, replacement in sorted(edits, key=lambda e: e[0]):
            first, last = self._origin[start], self._origin[end]
            text.append(self.text[done:start])
            origin.extend(self._origin[done:start])
            text.append(replacement)
            if len(replacement) == end - start:
                origin.extend(self._origin[start:end])
            else:  # a longer or shorter spelling: its characters stand for the whole range
                origin.extend(min(first + i, max(first, last - 1)) for i in range(len(replacement)))
            self.repairs.append((first, last, replacement))
            done = end
        text.append(self.text[done:])
        origin.extend(self._origin[done:])
        self.text = "".join(text)
        self._origin = origin
