"""The language services (engine/services) as data: tests/lsp_cases/*.case, each a
rule file with a cursor and the answer expected there (see tests/lsp_cases/README.md);
the incremental parse against the whole-file parse; and the rename property."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.language.parse import PartialParse, parse
from engine.language.source import Source
from engine.services import Document, Position, RenameError, StatementCache, TextEdit
from engine.services.positions import LineIndex
from tests.conftest import ROOT

CASES = sorted((ROOT / "tests/lsp_cases").glob("*.case"))
CARET = "|caret|"
SHIPPED = sorted([*ROOT.glob("rules/*.tiers"), *ROOT.glob("definitions/*/*.tiers")])


def _read(path: Path) -> tuple[dict[str, list[str]], str, Position | None, str | None]:
    head, _, rest = path.read_text(encoding="utf-8").partition("\n---\n")
    keys: dict[str, list[str]] = {}
    for line in head.splitlines():
        key, _, value = line.partition(":")
        keys.setdefault(key.strip(), []).append(value[1:] if value.startswith(" ") else value)
    text, _, after = rest.partition("=== after\n")
    position = None
    if CARET in text:
        offset = text.index(CARET)
        text = text.replace(CARET, "")
        position = LineIndex(text).position(offset)
    return keys, text, position, after if after else None


def _apply(text: str, edits: list[TextEdit]) -> str:
    lines = LineIndex(text)
    for edit in sorted(edits, key=lambda e: lines.offset(e.range.start), reverse=True):
        start, end = lines.offset(edit.range.start), lines.offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text


def _split(value: str, separator: str = ",") -> list[str]:
    return [item.strip() for item in value.split(separator) if item.strip()]


def _place(document: Document, position: Position) -> str:
    return f"{position.line + 1}:{position.character + 1}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    keys, text, position, after = _read(path)
    doc = Document(text, path=path.name)
    at = position or Position(0, 0)
    checked = 0
    if "hover" in keys:
        found = doc.hover(at)
        if keys["hover"] == ["none"]:
            assert found is None
        else:
            assert found is not None, "no hover"
            for expected in keys["hover"]:
                assert expected in found.markdown, found.markdown
        checked += 1
    labels = [c.label for c in doc.complete(at)] if position is not None else []
    if "complete" in keys:
        assert labels == _split(keys["complete"][0])
        checked += 1
    if "complete-has" in keys:
        assert set(_split(keys["complete-has"][0])) <= set(labels), labels
        checked += 1
    if "complete-not" in keys:
        assert not set(_split(keys["complete-not"][0])) & set(labels), labels
        checked += 1
    if "definition" in keys:
        found_range = doc.definition(at)
        shown = "none" if found_range is None else _place(doc, found_range.start)
        assert shown == keys["definition"][0]
        checked += 1
    if "references" in keys:
        places = [_place(doc, r.start) for r in doc.references(at)]
        assert places == _split(keys["references"][0])
        checked += 1
    if "rename-error" in keys:
        with pytest.raises(RenameError, match=re.escape(keys["rename-error"][0])):
            doc.rename(at, keys["rename"][0])
        checked += 1
    elif "rename" in keys:
        assert doc.prepare_rename(at) is not None
        assert _apply(text, doc.rename(at, keys["rename"][0])) == after
        checked += 1
    if "fix" in keys:
        first = doc.diagnostics()[0]
        fixes = {fix.title: fix for fix in doc.fixes(first)}
        assert keys["fix"][0] in fixes, list(fixes)
        fixed = _apply(text, fixes[keys["fix"][0]].edits)
        assert fixed == after
        assert Document(fixed).diagnostics() == []
        checked += 1
    if "diagnostics" in keys:
        codes = [d.code for d in doc.diagnostics()] or ["none"]
        assert codes == _split(keys["diagnostics"][0])
        checked += 1
    if "symbols" in keys:
        shown = [f"{s.kind} {s.name}" for s in doc.symbols()]
        assert shown == _split(keys["symbols"][0])
        checked += 1
    if "examples" in keys:
        assert [o.message for o in doc.examples()] == _split(keys["examples"][0], "|")
        checked += 1
    if "inlay" in keys:
        hints = [f"{_place(doc, h.position)} {h.label}" for h in doc.inlay_hints()] or ["none"]
        assert hints == keys["inlay"]
        checked += 1
    if "token" in keys:
        lines = text.splitlines()
        tokens = [
            f"{_place(doc, t.range.start)} {t.kind}{' declaration' if t.declaration else ''} "
            + lines[t.range.start.line][t.range.start.character : t.range.end.character]
            for t in doc.semantic_tokens()
        ]
        assert tokens == keys["token"]
        checked += 1
    if "formatted" in keys:
        assert keys["formatted"] == ["none"] and doc.formatted() is None
        checked += 1
    assert checked, f"{path.name} expects nothing"


# ------------------------------------------------------------ incremental parse


def _spans(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, tuple):
        for item in node:
            _spans(item, out)
        return out
    for name in getattr(type(node), "__dataclass_fields__", ()):
        value = getattr(node, name)
        if name == "span":
            out.append(value)
        else:
            _spans(value, out)
    return out


def _parsed(parse_with: Any, source: Source) -> tuple[Any, ...]:
    """Everything a parse gives, spans included (syntax nodes compare without them)."""
    try:
        found = parse_with(source)
        return found, _spans(found.statements, []), [], [c.span for c in found.comments]
    except PartialParse as error:
        partial = error.partial
        return partial, _spans(partial.statements, []), error.diagnostics, sorted(error.words)


def test_the_incremental_parse_equals_the_whole_parse_through_edits() -> None:
    """One cache through a sequence of edits of every shipped file (and broken ones):
    each version parses exactly as `parse` reads it, spans and diagnostics included."""
    cache = StatementCache()
    pick = random.Random(27)
    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        for _ in range(25):
            at = pick.randrange(len(text) + 1)
            cut = pick.randrange(0, 6)
            insert = pick.choice(["", "x", "\n", "\n\n", " ", "tier q when followers above 1\n",
                                  "≥", '"', "at lest", "# c\n", "  "])  # fmt: skip
            text = text[:at] + insert + text[at + cut :]
            source = Source(text, path.name)
            assert _parsed(cache.parse, source) == _parsed(parse, source), text


def test_a_document_with_a_cache_answers_as_one_without() -> None:
    cache = StatementCache()
    text = (ROOT / "rules/synthesis.tiers").read_text()
    for edit in ("", "\n", "tier extra when followers above 5\n", "# more\n"):
        text = edit + text
        cached = Document(text, "s.tiers", cache=cache)
        fresh = Document(text, "s.tiers")
        assert cached.diagnostics() == fresh.diagnostics()
        assert cached.symbols() == fresh.symbols()
        assert cached.examples() == fresh.examples()


# ------------------------------------------------------------------ rename


BROKEN = (ROOT / "rules/synthesis.tiers").read_text().replace("between 1k", "betwen 1k")
TEXTS = [*(p.read_text(encoding="utf-8") for p in SHIPPED), BROKEN]
KEYWORDS = {"when", "tier", "label", "none", "and", "or", "not", "is", "in", "has", "of"}


def _clean(document: Document) -> bool:
    return not any(d.severity == "error" for d in document.diagnostics())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(TEXTS))),
    st.integers(min_value=0),
    st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True),
)
def test_renaming_a_name_and_back_gives_the_text_back(index: int, pick: int, new: str) -> None:
    text = TEXTS[index]
    document = Document(text)
    declared = [o for o in document.names.occurrences if o.declaration]
    occurrence = declared[pick % len(declared)]
    taken = {key[-1] for key in document.names.by_key}
    if new in taken or new in KEYWORDS:
        return
    lines = document.lines
    at = lines.position(occurrence.span.start)
    try:
        edits = document.rename(at, new)
    except RenameError:
        return  # a word of the language: refused, as it must be
    renamed = _apply(text, edits)
    again = Document(renamed)
    assert _clean(again) == _clean(document)
    back = again.rename(at, occurrence.name)
    assert _apply(renamed, back) == text


# ------------------------------------------------------- tokens and hints


def test_tokens_and_hints_of_a_file_with_crlf_line_ends_are_those_with_lf() -> None:
    """A file saved with Windows line ends: no token takes the `\\r` in (a comment or a
    text running to the end of its line), and every token and hint is where it is
    in the same file with `\\n` alone."""
    text = (ROOT / "rules/synthesis.tiers").read_text(encoding="utf-8")
    text += 'tier open when platform == "unterminated\n'
    crlf = text.replace("\n", "\r\n")
    assert Document(crlf).semantic_tokens() == Document(text).semantic_tokens()
    assert Document(crlf).inlay_hints() == Document(text).inlay_hints()
    assert Document(text).inlay_hints()


def test_every_token_is_one_of_the_legend_and_on_one_line() -> None:
    from engine.services import TOKEN_KINDS

    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for token in Document(text).semantic_tokens():
            assert token.kind in TOKEN_KINDS
            assert token.character + token.length <= len(lines[token.line])


# ------------------------------------------------------------ byte-order mark


@pytest.mark.parametrize("broken", [False, True], ids=["clean", "with-an-error"])
def test_a_file_with_a_byte_order_mark_answers_as_one_with_a_space_there(broken: bool) -> None:
    """A file saved with a BOM, through a statement cache as `tierline lsp` keeps one:
    every answer is the one for the same file with a space in place of the mark (one
    character, one UTF-16 unit, for one). The checker used to parse the text without
    the mark through the same cache, which moved this version's spans one character
    back: no input, tier or band tokens, hover on `followers` read "coun", and the memo
    refused every run."""
    text = (ROOT / "rules/synthesis.tiers").read_text(encoding="utf-8")
    if broken:
        text += "tier broken when folowers above 5\n"
    documents = []
    for first in ("\ufeff", " "):
        cache = StatementCache()
        document = Document(first + text, "s.tiers", cache=cache)
        document.diagnostics(analysis=False)  # the editor's first round, as the server's
        documents.append((document, cache))
    (bom, bom_cache), (spaced, spaced_cache) = documents
    tokens = bom.semantic_tokens()
    assert tokens == spaced.semantic_tokens()
    assert {"input", "tier", "band"} <= {t.kind for t in tokens}
    assert bom.inlay_hints() == spaced.inlay_hints()
    if not broken:  # formatting keeps the mark (the shipped file is formatted: no change)
        assert bom.formatted() == bom.text
        messy = Document("\ufeff" + text.replace("tier mega  when", "tier   mega when"))
        assert messy.formatted() == "\ufeff" + text
    names = [o for o in bom.names.occurrences]
    assert names
    for occurrence in names:
        at = bom.lines.position(occurrence.span.start + 1)
        assert bom.hover(at) == spaced.hover(at), occurrence
        assert bom.definition(at) == spaced.definition(at), occurrence
        assert bom.references(at) == spaced.references(at), occurrence
    line = next(i for i, s in enumerate(text.splitlines()) if s.startswith("input followers"))
    hover = bom.hover(Position(line, len("input fol")))
    assert hover is not None and "input followers: count\n" in hover.markdown
    found = bom.diagnostics()
    assert [(d.range, d.code, d.message) for d in found] == [
        (d.range, d.code, d.message) for d in spaced.diagnostics()
    ]
    if broken:
        unknown = next(d for d in found if "folowers" in d.message)
        start = unknown.range.start
        assert bom.text.splitlines()[start.line][start.character :].startswith("folowers")
    else:
        assert len(bom_cache.analysis) == len(spaced_cache.analysis) > 0  # runs were kept
        again = Document("\ufeff" + text.replace("1M", "2M", 1), "s.tiers", cache=bom_cache)
        hits = bom_cache.analysis.hits
        assert again.diagnostics() == Document(" " + text.replace("1M", "2M", 1)).diagnostics()
        assert bom_cache.analysis.hits > hits  # the next version is answered from the memo
