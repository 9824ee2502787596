"""Text from data, made safe to print on a terminal.

Account ids, texts and set items come from callers and log files, and rule files from
their authors: printed raw, an ESC starts a sequence that repaints the screen or
sets the window title (OSC), a CR or backspace overwrites what was printed, a newline
forges a line that looks like the tool's own, and a bidi override (U+202E) shows the
characters of a line in another order than they are (Trojan Source). `printable`
shows each such character as its escape instead (`\\x1b`, `\\r`, `\\u202e`); the
tool's own newlines are kept where the caller says the text is its own (`newlines`).

Escaped: C0 controls (NUL, BS, TAB, LF, CR, ESC, …), DEL, C1 controls (U+0080 to
U+009F, among them NEL and CSI), the bidi embeddings, overrides and isolates
(U+202A to U+202E, U+2066 to U+2069) and marks (U+200E, U+200F, U+061C), and the
line and paragraph separators U+2028 and U+2029. A backslash is shown as it is: the
text stays readable, and no escape in it can act on the terminal.

The explanations of `engine` (`engine/python/leaves.py`), the `tierline` commands and
the text reports (`reports/`) call these two functions, so that one list decides.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every character that can act on a terminal shown as its escape;
    with `newlines`, "\\n" is kept (a text of the tool's own lines, whose values were
    escaped when they were put in)."""
    if text.isprintable():  # in C, and true of most texts: every escaped character is
        return text  # a control (Cc), a format character (Cf) or a separator (Zl, Zp)
    pattern = _UNSAFE_BUT_NEWLINE if newlines else _UNSAFE
    return pattern.sub(_escape, text) if pattern.search(text) else text


def json_printable(text: str) -> str:
    """JSON text (as json.dumps writes it, `ensure_ascii=False`) with the same characters
    written as JSON escapes (`\\u202e`): the same JSON once parsed, safe on a terminal.
    json.dumps escapes C0 controls inside strings itself (a newline outside them is its
    `indent`'s, and kept); DEL, C1 and the bidi and line separator characters it writes
    raw, and they can only stand inside strings, where `\\uXXXX` means them."""
    pattern = _UNSAFE_BUT_NEWLINE
    return pattern.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if pattern.search(text) else text
