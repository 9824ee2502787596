"""The unsaved text of a rule file, answered by the engine's language services
(`engine.services.Document`, shared with `tierline lsp`) and tested as `tierline test`
tests it, in the shapes the page draws.

In: the text in the editor and its file's name. Out: the diagnostics of `tierline
check` with the editor's offsets (CodeMirror counts UTF-16 code units, the services
code points) and each diagnostic's quick fixes, hover and completion at a position,
every example's outcome with the explanation of a failure, and what the ruleset
declares (for the column mapping and the impact views). The last documents are kept
by their digest, so the sample, the impact and the examples of one keystroke share
one check. No `StatementCache`: it moves the spans of the trees it gave for one
version when it parses the next, and the studio reads several versions of a file at
once (the saved file beside the edit, an older keystroke's answer still on its way);
each text is parsed whole, a few milliseconds for a file people write by hand.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from engine import ClassifyError, Ruleset
from engine.language.languages import completion_detail, explanation, fix_title, localized
from engine.language.languages import refusal as refused
from engine.language.source import Source
from engine.services import Diagnostic, Document, Position
from engine.services.positions import Range
from tierline.cli.examples import literal, unreached
from tierline.studio.errors import StudioError

# One check at a time in this process: the analysis's solver (z3) shares one context
# between threads, and two checks at once crash it (as in server/loading.py); the
# documents and their statement caches are not thread-safe either.
CHECKING = threading.RLock()
_KEPT = 32


@dataclass(frozen=True)
class Checked:
    document: Document
    ruleset: Ruleset | None  # None: the text has errors
    diagnostics: tuple[Diagnostic, ...]

    @property
    def source(self) -> Source:
        return self.document.source


class Checker:
    """Documents by (name, digest), the last `_KEPT`."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, str], Checked] = OrderedDict()
        self._quick: OrderedDict[tuple[str, str], Ruleset | None] = OrderedDict()
        self._lock = threading.Lock()  # the two caches; CHECKING is for the work

    def check(self, name: str, text: str) -> Checked:
        key = (name, Source(text, name).digest)
        with CHECKING:
            with self._lock:
                found = self._kept.get(key)
                if found is not None:
                    self._kept.move_to_end(key)
                    return found
            document = Document(text, name)
            diagnostics = tuple(document.diagnostics())
            clean = not any(d.severity == "error" for d in diagnostics)
            checked = document.checked if clean else None
            result = Checked(document, Ruleset(checked) if checked else None, diagnostics)
            with self._lock:
                self._kept[key] = result
                while len(self._kept) > _KEPT:
                    self._kept.popitem(last=False)
            return result

    def ruleset(self, name: str, text: str) -> Ruleset:
        """The text's ruleset, or the refusal of a text with errors. Without waiting for
        the analysis: the sample, the impact and the comparison of a keystroke need the
        rules, not the solver's findings, so a text not yet checked whole is checked
        without the analysis (no solver, so beside a running check, not after it). A
        file whose only errors are the analysis's (tiers that overlap under `policy
        unique`) still shows what it does to the sample; saving it stays refused."""
        key = (name, Source(text, name).digest)
        with self._lock:  # not CHECKING: a running check (the solver) is not waited for
            found = self._kept.get(key)
            known, quick = key in self._quick, self._quick.get(key)
        if found is not None and found.ruleset is not None:
            return found.ruleset
        if not known:
            checked = Document(text, name).checked  # parse and check: no solver
            quick = Ruleset(checked) if checked is not None else None
            with self._lock:
                self._quick[key] = quick
                while len(self._quick) > _KEPT:
                    self._quick.popitem(last=False)
        if quick is None:
            raise StudioError(
                "rules-have-errors", f"{name} has errors; fix them to see this", 422, name=name
            )
        return quick

    def hover(
        self, name: str, text: str, position: Position, language: str = "en"
    ) -> dict[str, Any]:
        found = self.check(name, text)
        with CHECKING:
            answer = found.document.hover(position, language)
        if answer is None:
            return {"contents": None}
        return {"contents": answer.markdown, **_offsets(found.document, answer.range)}

    def complete(
        self, name: str, text: str, position: Position, language: str = "en"
    ) -> dict[str, Any]:
        found = self.check(name, text)
        with CHECKING:
            items = found.document.complete(position)
        return {
            "items": [
                {"label": c.label, "kind": c.kind,
                 "detail": completion_detail(c.detail, language),
                 "insert": c.insert_text or c.label}
                for c in items
            ]
        }  # fmt: skip


def utf16(text: str, offset: int) -> int:
    """A code-point offset of `text` as the editor counts it (UTF-16 code units)."""
    head = text[:offset]
    return len(head) + sum(1 for ch in head if ord(ch) > 0xFFFF)


def _offsets(document: Document, where: Range) -> dict[str, int]:
    text = document.text
    start = utf16(text, document.lines.offset(where.start))
    end = utf16(text, document.lines.offset(where.end))
    return {"from": start, "to": max(start, end)}


def diagnostics_json(found: Checked, language: str = "en") -> list[dict[str, Any]]:
    """The diagnostics as the page draws them, their words (message, hint, the fix's
    title) in `language`; code, position and fix the same in every language."""
    document = found.document
    out = []
    for d in found.diagnostics:
        item: dict[str, Any] = {
            **_offsets(document, d.range),
            "line": d.range.start.line + 1,
            "column": d.range.start.character + 1,
            "severity": d.severity,
            "code": d.code,
            "message": localized(d.message, language),
            "hint": localized(d.hint, language),
        }
        if d.witness is not None:
            item["witness"] = d.witness
        with CHECKING:
            fixes = document.fixes(d)
        if fixes:  # the first is the likeliest ("did you mean"); the page offers it
            item["fix"] = {
                "title": fix_title(fixes[0].title, language),
                "changes": [
                    {**_offsets(document, e.range), "insert": e.new_text} for e in fixes[0].edits
                ],
            }
        out.append(item)
    return out


def examples_json(ruleset: Ruleset, language: str = "en") -> dict[str, Any]:
    """Every example's outcome (as `tierline test --format json` gives it, with the
    explanation of a failure in `language`), and the tiers and labels no example reaches."""
    results = ruleset.run_examples()
    listed = [result.to_dict() for result in results]
    for result, said in zip(results, listed, strict=True):
        if "explanation" in said and result.decision is not None:
            conditions = [r.text for r in result.decision.reasons]
            said["explanation"] = explanation(said["explanation"], language, conditions)
        if result.error is not None:
            said["got"] = refused(str(result.error), language)
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
        raise StudioError(
            "row-refused", f"the rules refuse this row: {error}", 422, reason=str(error)
        ) from None
    given = ", ".join(f"{n} {literal(v, inputs[n].type)}" for n, v in own.items())
    said = description.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return (
        f'example "{said}"\n'
        f"  given {given}\n"
        f"  expect {decision.tier or 'none'} labels {', '.join(decision.labels) or 'none'}\n"
    )
