"""What the server shows stays small, whatever it was given.

Diagnostics and messages travel in places with hard limits: a status message
and its details ride in HTTP/2 trailers (gRPC refuses metadata over 16 KiB,
and the caller then gets RESOURCE_EXHAUSTED instead of the real answer), a
`ListRulesets` answer holds every ruleset's `last_error` in one message, and
each reload event is one stderr line. One rule file with 400 overlapping
tiers once made 79,800 diagnostics: a 27.5 MB event line and a
`ListRulesets` of 49 MB that no caller could receive. So, wherever they
come from:

- at most `MAX_DIAGNOSTICS` diagnostics and `MAX_TEXT` characters of
  rendered text are carried (`last_error`, reload events, ValidateRules),
  the rest summed up as "… and K more";
- a value the caller sent (a ruleset name, a digest, a file name) is quoted
  with at most `QUOTE_CHARS` characters, and its length when cut;
- paths are shown relative to the rules folder: callers learn file names,
  not where the server keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from engine.language.diagnostics import Diagnostic, RuleError
from engine.language.source import Source
from engine.registry import LoadFailure

MAX_DIAGNOSTICS = 50
MAX_TEXT = 16 * 1024  # characters of rendered diagnostics or of a message
MAX_STATUS_TEXT = 4 * 1024  # characters of an error status's message (it rides in trailers)
QUOTE_CHARS = 120
MAX_NAMES = 20  # rulesets listed in a NOT_FOUND message
MAX_ID_CHARS = 4096  # an account id or request id; longer ones are refused
MAX_FILE_NAME_CHARS = 1024  # ValidateRules' file_name
MAX_VIOLATIONS = 20  # field violations in one error's details


def quote(value: str, limit: int = QUOTE_CHARS) -> str:
    """A caller's value for a message: quoted, control characters escaped, and cut to
    `limit` characters with its length said."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """At most `limit` characters (plus the note), cut at a line end where there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = head.rfind("\n")
    if end > limit // 2:
        head = head[:end]
    rest = text[len(head) :]
    return f"{head}\n… and {rest.count(chr(10)) + 1:,} more lines ({len(text):,} characters in all)"


def names(known: Sequence[str]) -> str:
    """Rulesets named in a message: at most `MAX_NAMES`, each cut."""
    if not known:
        return "none are loaded"
    shown = ", ".join(n if len(n) <= QUOTE_CHARS else quote(n) for n in known[:MAX_NAMES])
    more = len(known) - MAX_NAMES
    return f"{shown} and {more:,} more" if more > 0 else shown


def first_diagnostics(diagnostics: Sequence[Diagnostic]) -> tuple[list[Diagnostic], int]:
    """The first `MAX_DIAGNOSTICS` by position (as a rule author reads them), and how many
    are left out."""
    ordered = sorted(diagnostics, key=lambda d: (d.span.start, d.code))
    return ordered[:MAX_DIAGNOSTICS], max(0, len(ordered) - MAX_DIAGNOSTICS)


def rendered(source: Source, diagnostics: Sequence[Diagnostic]) -> str:
    """Diagnostics as `tierline check` renders them, bounded."""
    shown, more = first_diagnostics(diagnostics)
    text = str(RuleError(source, shown)) if shown else ""
    if more:
        text += f"\n… and {more:,} more diagnostics ({len(diagnostics):,} in all)"
    return cut(text)


def relative(path: str) -> str:
    """A rule file's path as callers see it: relative to the rules folder (files are read
    from the folder itself, so that is the file's name)."""
    return PurePath(path).name if path else path


def failure_message(failure: LoadFailure, path: str) -> str:
    """A load failure's text for callers: bounded, and with paths relative to the folder."""
    if failure.diagnostics and failure.source is not None:
        source = Source(failure.source.text, relative(failure.source.path))
        return rendered(source, failure.diagnostics)
    text = failure.message
    folder = str(PurePath(path).parent)
    if folder not in ("", "."):
        text = text.replace(folder + "/", "")
    return cut(text)
