"""A text that remembers how it was said, so that it can be said again in German.

The engine's texts (a diagnostic's message and hint, a summary of omitted findings,
"did you mean …?") are made in English where they are found, deep in the checker and
the analysis, and travel as plain strings to every caller: the CLI, gRPC and the
language server print them unchanged. The studio also reads German. Rather than
thread a language through every stage that makes a diagnostic, each catalogued text
is a `Phrase`: a `str` (so every existing caller sees the same English text) that
also keeps its key in the catalogue and the fields it was filled with. A caller that
wants another language renders the key and fields from that language's catalogue at
the edge (`engine.language.languages.localized`), as Django's lazy translation
strings do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (catalogue entry, "message" or "hint", variant): ("unknown-name", "hint", "quote")
Key = tuple[str, str, str]


class Phrase(str):
    """An English text of the catalogue, with its key and fields."""

    key: Key
    fields: Mapping[str, Any]

    def __new__(cls, text: str, key: Key, fields: Mapping[str, Any]) -> Phrase:
        made = super().__new__(cls, text)
        made.key = key
        made.fields = dict(fields)
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its key and fields (diagnostics cross process boundaries)."""
        return (Phrase, (str(self), self.key, self.fields))


def said(template: str, key: Key, fields: Mapping[str, Any]) -> Phrase:
    """`template` filled with `fields`, remembering both."""
    return Phrase(template.format(**fields), key, fields)
