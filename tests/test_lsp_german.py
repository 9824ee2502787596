"""`tierline lsp` for a German editor (issue 28): a client whose `initialize` says
`locale: "de"` (a German VS Code does) gets diagnostics, hovers, quick-fix titles and
example code lenses in German; codes, ranges and the data a client reads are the same,
and a client without a German locale gets English, as before. A real `tierline lsp`
subprocess."""

from __future__ import annotations

import re
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


# English prose a German editor must not see in an inlay hint, a summary or a finding.
ENGLISH = re.compile(
    r"\b(the|type|checker|gives|values|of|value|is|in|first|meets|percent|takes|fraction|"
    r"at least|at most|above|below|exactly|and|or|any|examples?|failing|pass|expected|got|"
    r"for example|goes|earlier|line|take|every|account|would)\b"
)


def test_inlay_hints_in_german(german: LspClient, english: LspClient) -> None:
    """Labels and tooltips in German; the values as the rule language writes them
    (a band's bounds, a type), a percent's fraction as the API takes it, and the value
    of a suffixed count grouped the German way."""
    text = SYNTHESIS.read_text() + (
        "let reach = followers * engagement_rate\nlabel steady when engagement medium\n"
    )
    hints = {}
    for client, name in ((german, "de-inlay.tiers"), (english, "en-inlay.tiers")):
        uri, _ = opened(client, name, text)
        lines = len(text.splitlines())
        hints[name] = client.request(
            "textDocument/inlayHint",
            {
                "textDocument": {"uri": uri},
                "range": {
                    "start": {"line": 0, "character": 0},
                    "end": {"line": lines, "character": 0},
                },
            },
        )
    de, en = hints["de-inlay.tiers"], hints["en-inlay.tiers"]
    assert [h["position"] for h in de] == [h["position"] for h in en]
    labels = [h["label"] for h in de]
    assert "= 1.000.000" in labels and "= 1,000,000" in [h["label"] for h in en]
    assert "= 0.035" in labels  # the fraction the API takes, as JSON writes it
    assert "(mindestens 3.5%)" in labels
    assert "(mindestens 1% und unter 3.5%)" in labels
    assert ": number" in labels  # the type, as the rules name it
    tooltips = {h.get("tooltip") for h in de} - {None}
    assert tooltips == {
        "Prozent: die API nimmt ihn als diesen Bruchteil",
        "der Typ, den die Prüfung diesem let gibt",
        "die Werte von Band 'high' des Levels 'engagement' (ein Wert gehört zum ersten Band, "
        "das er erreicht)",
        "die Werte von Band 'medium' des Levels 'engagement' (ein Wert gehört zum ersten "
        "Band, das er erreicht)",
    }
    for said in [*labels, *tooltips]:
        prose = re.sub(r"'[^']*'|-?\d[\d.,]*%?", " ", said)  # names and values aside
        assert not ENGLISH.search(prose), said


def test_run_examples_summary_in_german(german: LspClient) -> None:
    text = SYNTHESIS.read_text().replace("expect micro labels fashion_expert", "expect nano", 1)
    uri, _ = opened(german, "de-run.tiers", text)
    ran = german.request(
        "workspace/executeCommand", {"command": "tierline.runExamples", "arguments": [uri]}
    )
    assert ran["summary"] == "11 Beispiele: 1 fehlgeschlagen"
    assert ran["examples"][0]["message"] == "expected nano, got micro"  # data, as before
    shown = german.wait_notification(
        "window/showMessage", lambda p: "fehlgeschlagen" in p["message"]
    )
    assert shown["message"] == (
        '11 Beispiele: 1 fehlgeschlagen; "fashion blogger with a close community": '
        "erwartet nano, erhalten micro"
    )


SHADOWED = """ruleset s
input followers: count
input likes: count
let r = likes / followers
tier big when r at least 0.5 or followers at least 1000
tier mid when r at least 0.6
otherwise none
"""


def analysed(client: LspClient, name: str) -> dict[str, Any]:
    """The solver's finding on SHADOWED: published after the checker's diagnostics."""
    uri = (ROOT / "tests" / "lsp-scratch" / name).as_uri()
    client.open(uri, SHADOWED)
    published = client.wait_notification(
        "textDocument/publishDiagnostics",
        lambda p: (
            p["uri"] == uri and any(d["code"] == "unreachable-rule" for d in p["diagnostics"])
        ),
    )
    [found] = [d for d in published["diagnostics"] if d["code"] == "unreachable-rule"]
    return found


def test_a_shadowed_tier_in_german(german: LspClient, english: LspClient) -> None:
    """The solver's finding names the tiers above and an example account in German
    (it was "'big' (line 5) … goes to an earlier tier")."""
    [de_found, en_found] = [
        analysed(client, name)
        for client, name in ((german, "de-shadowed.tiers"), (english, "en-shadowed.tiers"))
    ]
    assert "'big' (line 5) take every account it would: for example" in en_found["message"]
    assert "goes to an earlier tier" in en_found["message"]
    first = de_found["message"].split("\n")[0]
    assert first.startswith(
        "Stufe 'mid' kann nie zutreffen: 'big' (Zeile 5) nehmen jedes Konto, das sie nehmen "
        "würde: zum Beispiel erhält followers "
    ), first
    assert first.endswith(" eine frühere Stufe"), first
    prose = re.sub(r"'[^']*'|`[^`]*`|followers \S+|likes \S+", " ", de_found["message"])
    assert not ENGLISH.search(prose), de_found["message"]


def test_a_hover_counts_many_rules_as_german_writes_numbers() -> None:
    """A tier given by 1,000 rules: "1.000 Regeln", not "1000" (str.format said it)."""
    text = "ruleset h\ninput followers: count\n" + "".join(
        f"tier big when followers at least {i}\n" for i in range(1000)
    )
    with LspClient() as client:  # its own server: the analysis of 1,000 tiers stays there
        client.initialize(locale="de")
        uri = (ROOT / "tests" / "lsp-scratch" / "de-many.tiers").as_uri()
        client.open(uri, text)
        found = client.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 6}},
        )
    first = found["contents"]["value"].split("\n")[0]
    assert first == "**tier** `big`: 1.000 Regeln vergeben sie"
