"""Rule-file text and positions in it.

Every AST node carries a `Span`; `Source` turns spans back into the
`file:line:col` and the quoted line that diagnostics and reasons show.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of offsets into `Source.text`; line and col are 1-based."""

    start: int
    end: int
    line: int
    col: int


NO_SPAN = Span(0, 0, 1, 1)


@dataclass(frozen=True)
class Source:
    """The text of one rule file and the name it is reported under."""

    text: str
    path: str = "<text>"
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    digest: str = field(init=False, repr=False, compare=False)  # sha256 of the UTF-8 text

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        object.__setattr__(self, "_line_starts", tuple(starts))
        object.__setattr__(self, "digest", hashlib.sha256(self.text.encode("utf-8")).hexdigest())

    def span(self, start: int, end: int) -> Span:
        """A span for offsets, with line and column computed from the text."""
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        index = bisect.bisect_right(self._line_starts, start) - 1
        return Span(start, end, index + 1, start - self._line_starts[index] + 1)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        begin = self._line_starts[line - 1]
        end = self.text.find("\n", begin)
        return self.text[begin : end if end >= 0 else len(self.text)].rstrip("\r")

    def text_of(self, span: Span) -> str:
        return self.text[span.start : span.end]
