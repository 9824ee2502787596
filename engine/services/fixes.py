"""Quick fixes from a diagnostic's hint, as text edits.

The hints of every stage name what to write (`did you mean 'between'?`, `write
3,5% as 3.5%`, `use `above` for more than`, `write a set: {"x"}`). Each
spelling a hint names is a candidate replacement of the diagnostic's range; a
candidate is offered only when the file, so edited, no longer has that
diagnostic and has no more errors than before: a fix never makes things worse
and never offers what does not work.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from engine.language.ast import RuleFile
from engine.language.diagnostics import RuleError
from engine.language.parse import PartialParse, parse
from engine.language.source import Source
from engine.load import check_source
from engine.services.answers import Diagnostic, Fix
from engine.services.core import DocumentCore
from engine.services.positions import TextEdit

_CANDIDATES = (
    re.compile(r"did you mean '([^']+)'\?"),
    re.compile(r"did you mean (\S+)\?"),
    re.compile(r"write \S+ as (\S+?)(?: or |\s*$| \()"),
    re.compile(r"write \S+ as \S+ or (\S+)"),
    re.compile(r"write (\S+?)(?::| with| without| or | \(|\s*$)"),
    re.compile(r"write \S+ \(or ([^)]+)\)"),
    re.compile(r"write \S+ or (\S+)"),
    re.compile(r"write a set: (\{.*\})"),
    re.compile(r"double quotes: (\".*\")"),
    re.compile(r"`([^`…]+)`"),
    re.compile(r"write it as one: (.+)$"),
)


# "the tiers are micro, none", "its bands are high, medium, low": each is a candidate
_CHOICES = re.compile(r"^(?:the \w+s|its bands) are ([\w, ]+)$")


def candidates(hint: str) -> list[str]:
    """The spellings a hint names, in the order it names them."""
    found: dict[str, None] = {}
    for pattern in _CANDIDATES:
        for match in pattern.finditer(hint):
            found[match.group(1)] = None
    choices = _CHOICES.match(hint)
    if choices:
        found.update(dict.fromkeys(c.strip() for c in choices.group(1).split(",") if c.strip()))
    return list(found)


def fixes(doc: DocumentCore, diagnostic: Diagnostic) -> list[Fix]:
    if not diagnostic.hint or diagnostic.engine is None:
        return []
    span = diagnostic.engine.span
    written = doc.text[span.start : span.end]
    before = [
        (d.code, d.engine.span.start, d.severity == "error")
        for d in doc.diagnostics(analysis=False)
        if d.engine is not None
    ]
    reread = doc.cache.scratch().parse if doc.cache is not None else parse
    out = []
    for candidate in candidates(diagnostic.hint):
        if candidate == written:
            continue
        text = doc.text[: span.start] + candidate + doc.text[span.end :]
        after = _problems(text, doc.path, reread)
        same = [d for d in after if d[0] == diagnostic.code and d[1] == span.start]
        if same or sum(1 for d in after if d[2]) > sum(1 for d in before if d[2]) - (
            diagnostic.severity == "error"
        ):
            continue
        title = (
            f"write {candidate}" if written.strip() == "" else f"replace '{written}' by {candidate}"
        )
        out.append(Fix(title, [TextEdit(diagnostic.range, candidate)]))
    return out


def _problems(
    text: str, path: str, reread: Callable[[Source], RuleFile]
) -> list[tuple[str, int, bool]]:
    """(code, start, is error) of what the checker reports, without the analysis."""
    try:
        checked = check_source(Source(text, path), analyse=False, parse_with=reread)
        found = list(checked.warnings)
    except (RuleError, PartialParse) as error:
        found = list(error.diagnostics)
    return [(d.code, d.span.start, d.severity.value == "error") for d in found]
