"""`tierline lsp` for a German editor (issue 28): a client whose `initialize` says
`locale: "de"` (a German VS Code does) gets diagnostics, hovers, quick-fix titles and
example code lenses in German; codes, ranges and the data a client reads are the same,
and a client without a German locale gets English, as before. A real `tierline lsp`
subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.lsp_client import LspClient

SYNTHESIS = ROOT / "rules/synthesis.tiers"


@pytest.fixture(scope="module")
def german() -> Iterator[LspClient]:
    with LspClient() as started:
        started.initialize(locale="de-DE")
        yield started


@pytest.fixture(scope="module")
def english() -> Iterator[LspClient]:
    with LspClient() as started:
        started.initialize()
        yield started


def opened(client: LspClient, name: str, text: str) -> tuple[str, list[dict[str, Any]]]:
    uri = (ROOT / "tests" / "lsp-scratch" / name).as_uri()  # never written
    client.open(uri, text)
    found = client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    return uri, found["diagnostics"]


def test_diagnostics_and_quick_fixes_in_german(german: LspClient, english: LspClient) -> None:
    text = SYNTHESIS.read_text().replace("between 1k", "betwen 1k")
    uri, [de] = opened(german, "de-fix.tiers", text)
    _, [en] = opened(english, "en-fix.tiers", text)
    assert de["message"] == "'betwen' ist hier kein Wort der Regelsprache\n= meinten Sie 'between'?"
    assert (
        en["message"]
        == "'betwen' is not a word of the rule language here\n= did you mean 'between'?"
    )
    assert (de["code"], de["range"], de["data"]) == (en["code"], en["range"], en["data"])
    actions = german.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": de["range"], "context": {"diagnostics": [de]}},
    )
    assert [a["title"] for a in actions] == ["'betwen' durch between ersetzen"]


def test_hover_in_german(german: LspClient) -> None:
    text = SYNTHESIS.read_text()
    uri, _ = opened(german, "de-hover.tiers", text)
    line = next(i for i, t in enumerate(text.splitlines()) if t.startswith("input followers"))
    found = german.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": 8}},
    )
    assert "erforderlich: jedes Konto gibt sie an" in found["contents"]["value"]


def test_code_lenses_in_german(german: LspClient) -> None:
    text = SYNTHESIS.read_text().replace("expect micro labels fashion_expert", "expect nano", 1)
    uri, _ = opened(german, "de-lenses.tiers", text)
    lenses = german.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
    titles = [lens["command"]["title"] for lens in lenses]
    assert titles[0] == "▶ Beispiele ausführen (11 Beispiele: 1 fehlgeschlagen)"
    assert titles[1] == "✗ erwartet nano, erhalten micro"
    assert titles[2:] == ["✓ bestanden"] * 10
