"""The unsaved text of a rule file, checked as `tierline check` checks it and tested as
`tierline test` tests it, in the shapes the page draws.

In: the text in the editor and its file's name. Out: the diagnostics (with the
editor's offsets: CodeMirror counts UTF-16 code units, Python code points), a
quick fix for each diagnostic that carries one, every example's outcome with the
explanation of a failure, and what the ruleset declares (for the column mapping
and the impact views). The last checked texts are kept by their digest: the
sample, the impact and the examples of one keystroke share one check.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from engine import ClassifyError, RuleError, Ruleset
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source
from engine.load import check_source
from tierline.cli.examples import literal, unreached
from tierline.studio.errors import StudioError

# One check at a time in this process: the analysis's solver (z3) shares one context
# between threads, and two checks at once crash it (as in server/loading.py).
CHECKING = threading.Lock()
_KEPT = 32
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")


@dataclass(frozen=True)
class Checked:
    source: Source
    ruleset: Ruleset | None
    diagnostics: tuple[Diagnostic, ...]


class Checker:
    """Checks texts, remembering the last few by (name, digest)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, str], Checked] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, name: str, text: str) -> Checked:
        source = Source(text, name)
        key = (name, source.digest)
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
        with CHECKING:
            try:
                checked = check_source(source)
                result = Checked(checked.source, Ruleset(checked), tuple(checked.warnings))
            except RuleError as error:
                result = Checked(error.source, None, tuple(error.diagnostics))
        with self._lock:
            self._kept[key] = result
            while len(self._kept) > _KEPT:
                self._kept.popitem(last=False)
        return result

    def ruleset(self, name: str, text: str) -> Ruleset:
        """The text's ruleset, or the StudioError-shaped refusal of a text with errors."""
        found = self.check(name, text)
        if found.ruleset is None:
            raise StudioError(
                "rules-have-errors",
                f"{name} has errors; fix them to see this",
                422,
                errors=sum(1 for d in found.diagnostics if d.severity.value == "error"),
            )
        return found.ruleset


def utf16(text: str, offset: int) -> int:
    """A code-point offset of `text` as the editor counts it (UTF-16 code units)."""
    head = text[:offset]
    return len(head) + sum(1 for ch in head if ord(ch) > 0xFFFF)


def diagnostics_json(found: Checked) -> list[dict[str, Any]]:
    text = found.source.text
    out = []
    for d in found.diagnostics:
        start = utf16(text, d.span.start)
        end = max(start, utf16(text, d.span.end))
        item: dict[str, Any] = {
            "from": start,
            "to": end,
            "line": d.span.line,
            "column": d.span.col,
            "severity": d.severity.value,
            "code": d.code,
            "message": d.message,
            "hint": d.hint,
        }
        if d.witness is not None:
            item["witness"] = d.witness
        fix = quick_fix(found.source, d)
        if fix is not None:
            item["fix"] = fix
        out.append(item)
    return out


def quick_fix(source: Source, diagnostic: Diagnostic) -> dict[str, Any] | None:
    """The edit a diagnostic's hint names: "did you mean 'followers'?" replaces the
    misspelled word the diagnostic points at."""
    if diagnostic.hint is None:
        return None
    matched = _DID_YOU_MEAN.search(diagnostic.hint)
    if matched is None or diagnostic.span.end <= diagnostic.span.start:
        return None
    text = source.text
    return {
        "title": f"use '{matched.group(1)}'",
        "from": utf16(text, diagnostic.span.start),
        "to": utf16(text, diagnostic.span.end),
        "insert": matched.group(1),
    }


def examples_json(ruleset: Ruleset) -> dict[str, Any]:
    """Every example's outcome (as `tierline test --format json` gives it, with the
    explanation of a failure), and the tiers and labels no example reaches."""
    results = ruleset.run_examples()
    listed = []
    for result in results:
        item: dict[str, Any] = {
            "line": result.example.span.line,
            "description": result.example.description,
            "passed": result.passed,
            "expected": result.expected(),
            "got": result.got(),
        }
        if not result.passed and result.decision is not None:
            item["explanation"] = result.decision.explain()
        listed.append(item)
    tiers, labels = unreached(ruleset, results)
    return {"results": listed, "unreached": {"tiers": tiers, "labels": labels}}


def declared(ruleset: Ruleset) -> dict[str, Any]:
    checked = ruleset.checked
    return {
        "name": ruleset.name,
        "version": ruleset.version,
        "title": checked.title,
        "digest": ruleset.digest,
        "inputs": [
            {"name": n, "type": d.type.value, "optional": d.optional}
            for n, d in checked.inputs.items()
        ],
        "tiers": list(checked.tier_names()),
        "labels": [r.name for r in checked.labels],
    }


def example_block(ruleset: Ruleset, account: dict[str, Any], description: str) -> str:
    """An `example` block that pins what the ruleset does to an account now ("make this
    row an example"), its values written as the rule language writes them."""
    inputs = ruleset.checked.inputs
    own = {n: v for n, v in account.items() if n in inputs and v is not None}
    try:
        decision = ruleset.classify(own)
    except ClassifyError as error:
        raise StudioError("row-refused", f"the rules refuse this row: {error}", 422) from None
    given = ", ".join(f"{n} {literal(v, inputs[n].type)}" for n, v in own.items())
    said = description.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return (
        f'example "{said}"\n'
        f"  given {given}\n"
        f"  expect {decision.tier or 'none'} labels {', '.join(decision.labels) or 'none'}\n"
    )
