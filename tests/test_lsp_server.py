"""`tierline lsp` end to end: a real subprocess spoken to over stdio (and TCP) as an
editor does, on the shipped rule files and on broken ones. Every wait is bounded
(tests/lsp_client.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, tierline
from tests.lsp_client import LspClient, ServerError

SHIPPED = sorted([*ROOT.glob("rules/*.tiers"), *ROOT.glob("definitions/*/*.tiers")])
FINDINGS = sorted((ROOT / "tests/cases/findings").glob("*.tiers"))
SYNTHESIS = ROOT / "rules/synthesis.tiers"


@pytest.fixture(scope="module")
def client() -> Iterator[LspClient]:
    with LspClient() as started:
        started.initialize()
        yield started


def _uri(name: str) -> str:
    return (ROOT / "tests" / "lsp-scratch" / name).as_uri()  # never written: open documents only


def _open(client: LspClient, name: str, text: str) -> tuple[str, dict[str, Any]]:
    """Open a document under a fresh name; its first diagnostics."""
    uri = _uri(name)
    client.open(uri, text)
    published = client.wait_notification(
        "textDocument/publishDiagnostics", lambda p: p["uri"] == uri
    )
    return uri, published


def _final_diagnostics(client: LspClient, uri: str, version: int) -> list[dict[str, Any]]:
    """The diagnostics of a version once both rounds are in: the checker's, then (when
    it found no error) the analysis's, which the server always sends."""

    def of_version(params: dict[str, Any]) -> bool:
        return params["uri"] == uri and params.get("version") == version

    first = client.wait_notification("textDocument/publishDiagnostics", of_version)
    if any(d["severity"] == 1 for d in first["diagnostics"]):
        return first["diagnostics"]  # type: ignore[no-any-return]
    seen = [
        i
        for i, p in enumerate(client.notifications("textDocument/publishDiagnostics"))
        if of_version(p)
    ]
    second = client.wait_notification("textDocument/publishDiagnostics", of_version, seen[0] + 1)
    return second["diagnostics"]  # type: ignore[no-any-return]


def _check_json(path: Path) -> list[dict[str, Any]]:
    done = tierline("check", "--format", "json", str(path))
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _same(published: list[dict[str, Any]], checked: list[dict[str, Any]]) -> None:
    """The server's diagnostics are `tierline check`'s: code, place, hint, severity."""
    mine = [
        (
            d["code"],
            d["range"]["start"]["line"] + 1,
            d["range"]["start"]["character"] + 1,
            d["data"]["hint"],
            "error" if d["severity"] == 1 else "warning",
            d["message"].split("\n= ")[0],
        )
        for d in published
    ]
    theirs = [
        (d["code"], d["line"], d["column"], d["hint"], d["severity"], d["message"]) for d in checked
    ]
    assert mine == theirs


def _position(text: str, marker: str, shift: int = 0) -> dict[str, int]:
    offset = text.index(marker) + shift
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def _apply(text: str, edits: list[dict[str, Any]]) -> str:
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: dict[str, int]) -> int:
        return starts[pos["line"]] + pos["character"]

    for edit in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        start, end = offset(edit["range"]["start"]), offset(edit["range"]["end"])
        text = text[:start] + edit["newText"] + text[end:]
    return text


# ---------------------------------------------------------------- diagnostics


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_file_opens_clean_and_formatted(client: LspClient, path: Path) -> None:
    uri, published = _open(client, f"shipped-{path.parent.name}-{path.name}", path.read_text())
    assert _final_diagnostics(client, uri, 1) == []
    assert published["diagnostics"] == []
    edits = client.request(
        "textDocument/formatting",
        {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}},
    )
    assert edits == []


BROKEN = {
    "misspelled-keyword.tiers": SYNTHESIS.read_text().replace("between 1k", "betwen 1k"),
    "unknown-name.tiers": SYNTHESIS.read_text().replace("engagement high\n", "engagment high\n", 1),
    "decimal-comma.tiers": SYNTHESIS.read_text().replace("at least 3.5%", "at least 3,5%"),
    "many-waves.tiers": SYNTHESIS.read_text()
    .replace("tier mega  when", "tier mega  wen")
    .replace("above 25%", "abvoe 25%")
    .replace('platform "tiktok"', "platform 'tiktok'"),
    "no-tiers.tiers": "ruleset empty\ninput followers: count\n",
    "binary-ish.tiers": "ruleset x\ninput followers: count\ntier a when followers ≥ 10k\n",
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """`tierline check --format json` of the findings' files and the broken ones, by
    file name: one run of the command for all of them."""
    folder = tmp_path_factory.mktemp("checked")
    for path in FINDINGS:
        (folder / f"findings-{path.name}").write_text(path.read_text())
    for name, text in BROKEN.items():
        (folder / name).write_text(text)
    by_file: dict[str, list[dict[str, Any]]] = {p.name: [] for p in folder.iterdir()}
    for item in _check_json(folder):
        by_file[Path(item["file"]).name].append(item)
    return by_file


@pytest.mark.parametrize("path", FINDINGS, ids=lambda p: p.name)
def test_the_analysis_findings_are_those_of_tierline_check(
    client: LspClient, path: Path, checked: dict[str, list[dict[str, Any]]]
) -> None:
    uri = (ROOT / "tests/lsp-scratch" / f"findings-{path.name}").as_uri()
    client.open(uri, path.read_text())
    published = _final_diagnostics(client, uri, 1)
    _same(published, checked[f"findings-{path.name}"])


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_file_gets_what_tierline_check_says(
    client: LspClient, name: str, checked: dict[str, list[dict[str, Any]]]
) -> None:
    uri = (ROOT / "tests/lsp-scratch" / name).as_uri()
    client.open(uri, BROKEN[name])
    published = _final_diagnostics(client, uri, 1)
    assert published, "a broken file has diagnostics"
    _same(published, checked[name])


def test_a_broken_file_still_answers(client: LspClient) -> None:
    """Hover, definition, completion, the outline and the lenses of a file with syntax
    errors, from the statements that could be read."""
    text = BROKEN["many-waves.tiers"]
    uri, _ = _open(client, "broken-answers.tiers", text)
    hover = client.request(
        "textDocument/hover", _at(uri, _position(text, "followers between 100k"))
    )
    assert "**input** `followers`: count" in hover["contents"]["value"]
    use = _position(text, "micro labels fashion_expert")
    definition = client.request("textDocument/definition", _at(uri, use))
    assert definition["range"]["start"] == _position(text, "micro when")
    found = client.request("textDocument/completion", _at(uri, _position(text, "expect micro", 7)))
    assert [i["label"] for i in found["items"]][:3] == ["macro", "micro", "nano"]  # mega is broken
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [s["name"] for s in symbols]
    assert "mega" not in names and {"macro", "micro", "engagement"} <= set(names)
    lenses = client.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
    assert lenses[0]["command"]["title"] == "▶ run examples (not run: the rules have errors)"


def test_diagnostics_follow_incremental_and_full_changes(client: LspClient) -> None:
    text = SYNTHESIS.read_text()
    uri, first = _open(client, "changes.tiers", text)
    assert first["diagnostics"] == []
    at = _position(text, "engagement high\n")
    end = {"line": at["line"], "character": at["character"] + len("engagement")}
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": {"start": at, "end": end}, "text": "engagment"}],
        },
    )
    second = _final_diagnostics(client, uri, 2)
    assert [d["code"] for d in second] == ["unknown-name"]
    assert second[0]["data"]["hint"] == "did you mean 'engagement'?"
    assert second[0]["range"]["start"] == at
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": text}]},
    )
    assert _final_diagnostics(client, uri, 3) == []


def test_typing_fast_publishes_the_last_version(client: LspClient) -> None:
    """Debounced: five keystrokes in a row end with the diagnostics of the fifth."""
    text = "ruleset t\ninput followers: count\ntier a when followers at least 1\notherwise none\n"
    uri, _ = _open(client, "typing.tiers", text)
    end = _position(text, "1\n", 1)
    for version, char in enumerate("0000k", start=2):
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": end, "end": end}, "text": char}],
            },
        )
        end = {"line": end["line"], "character": end["character"] + 1}
    assert _final_diagnostics(client, uri, 6) == []
    versions = [
        p.get("version")
        for p in client.notifications("textDocument/publishDiagnostics")
        if p["uri"] == uri
    ]
    assert versions[-1] == 6 and len(set(versions) - {1}) < 5, versions  # not one a keystroke


# ------------------------------------------------------------- the features


def _at(uri: str, position: dict[str, int]) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position}


def test_hover_definition_references_on_a_shipped_file(client: LspClient) -> None:
    text = SYNTHESIS.read_text()
    uri, _ = _open(client, "features.tiers", text)
    hover = client.request("textDocument/hover", _at(uri, _position(text, "followers at least 1M")))
    assert "**input** `followers`: count" in hover["contents"]["value"]
    hover = client.request("textDocument/hover", _at(uri, _position(text, "1M\n")))
    assert hover["contents"]["value"] == "`1M` = 1,000,000"
    hover = client.request("textDocument/hover", _at(uri, _position(text, "engagement high\n")))
    assert "high   at least 3.5%" in hover["contents"]["value"]
    use = _position(text, "micro labels fashion_expert")
    definition = client.request("textDocument/definition", _at(uri, use))
    assert definition["range"]["start"] == _position(text, "micro when")
    refs = client.request(
        "textDocument/references",
        {**_at(uri, use), "context": {"includeDeclaration": True}},
    )
    assert len(refs) == text.count("expect micro") + 1
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    kinds = {s["name"]: s["detail"] for s in symbols}
    assert kinds["followers"] == "input count" and kinds["mega"] == "tier"
    level = next(s for s in symbols if s["name"] == "engagement")
    assert [c["name"] for c in level["children"]] == ["high", "medium", "low"]


def test_highlights_and_folding(client: LspClient) -> None:
    text = SYNTHESIS.read_text()
    uri, _ = _open(client, "highlights.tiers", text)
    found = client.request(
        "textDocument/documentHighlight", _at(uri, _position(text, "engagement high\n"))
    )
    kinds = [(h["range"]["start"]["line"], h["kind"]) for h in found]
    declaration = _position(text, "level engagement", 6)["line"]
    assert kinds[0] == (declaration, 3) and {k for _, k in kinds[1:]} == {2}  # write, reads
    assert len(kinds) == 4
    folds = client.request("textDocument/foldingRange", {"textDocument": {"uri": uri}})
    level = _position(text, "level engagement")["line"]
    assert {"startLine": level, "endLine": level + 3} in folds
    assert len(folds) == 1 + text.count("\nexample ")  # the level and every example


def test_completion_by_context(client: LspClient) -> None:
    text = SYNTHESIS.read_text() + '\nexample "new"\n  given platform \n  expect \n'
    uri, _ = _open(client, "completion.tiers", text)

    def labels(position: dict[str, int]) -> list[str]:
        found = client.request("textDocument/completion", _at(uri, position))
        return [item["label"] for item in found["items"]]

    end = _position(text, "  expect \n", len("  expect "))
    assert labels(end)[:4] == ["mega", "macro", "micro", "nano"]
    given = _position(text, "given platform \n", len("given platform "))
    assert labels(given) == ['"instagram"', '"tiktok"', '"youtube"']
    assert "tier" in labels({"line": text.count("\n"), "character": 0})  # a new line


def test_rename_everywhere_and_its_refusals(client: LspClient) -> None:
    text = SYNTHESIS.read_text()
    uri, _ = _open(client, "rename.tiers", text)
    at = _position(text, "micro when", 2)
    prepared = client.request("textDocument/prepareRename", _at(uri, at))
    assert prepared["placeholder"] == "micro"
    edit = client.request("textDocument/rename", {**_at(uri, at), "newName": "micro_tier"})
    renamed = _apply(text, edit["changes"][uri])
    assert "expect micro_tier" in renamed and "expect micro " not in renamed
    assert renamed.replace("micro_tier", "micro") == text
    assert (
        client.request("textDocument/prepareRename", _at(uri, _position(text, "ruleset"))) is None
    )
    with pytest.raises(ServerError, match="is already"):
        client.request("textDocument/rename", {**_at(uri, at), "newName": "macro"})
    with pytest.raises(ServerError, match="not a name"):
        client.request("textDocument/rename", {**_at(uri, at), "newName": "2fast"})


def test_formatting_and_its_refusal(client: LspClient) -> None:
    messy = (
        "ruleset m\ninput followers: count\ntier a when followers   at least 10k\notherwise none\n"
    )
    uri, _ = _open(client, "messy.tiers", messy)
    options = {"tabSize": 2, "insertSpaces": True}
    edits = client.request(
        "textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}
    )
    formatted = _apply(messy, edits)
    assert formatted == tierline("fmt", "-", stdin=messy).stdout
    broken_uri, _ = _open(client, "broken-fmt.tiers", messy.replace("when", "wen"))
    with pytest.raises(ServerError, match="syntax errors"):
        client.request(
            "textDocument/formatting", {"textDocument": {"uri": broken_uri}, "options": options}
        )


def test_a_quick_fix_from_a_hint_makes_the_file_clean(client: LspClient) -> None:
    text = SYNTHESIS.read_text().replace("between 1k", "betwen 1k")
    uri, published = _open(client, "fix.tiers", text)
    diagnostic = published["diagnostics"][0]
    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": diagnostic["range"],
            "context": {"diagnostics": [diagnostic]},
        },
    )
    assert [(a["title"], a["isPreferred"]) for a in actions] == [
        ("replace 'betwen' by between", True)
    ]
    assert _apply(text, actions[0]["edit"]["changes"][uri]) == SYNTHESIS.read_text()


def test_code_lenses_say_which_examples_pass(client: LspClient) -> None:
    text = SYNTHESIS.read_text().replace("expect micro labels fashion_expert", "expect nano", 1)
    uri, _ = _open(client, "lenses.tiers", text)
    lenses = client.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
    titles = [lens["command"]["title"] for lens in lenses]
    assert titles[0] == "▶ run examples (11 examples: 1 failing)"
    assert titles[1] == "✗ expected nano, got micro"
    assert titles[2:] == ["✓ passes"] * 10
    ran = client.request(
        "workspace/executeCommand", {"command": "tierline.runExamples", "arguments": [uri]}
    )
    assert ran["summary"] == "11 examples: 1 failing"
    shown = client.wait_notification("window/showMessage", lambda p: "1 failing" in p["message"])
    assert "expected nano, got micro" in shown["message"]


def test_workspace_symbols_find_tiers_across_the_rule_files(client: LspClient) -> None:
    found = client.request("workspace/symbol", {"query": "micro"})
    files = {Path(s["location"]["uri"]).name for s in found}
    assert {"synthesis.tiers", "agency.tiers", "gnack.tiers"} <= files


def test_positions_are_utf16_for_a_client_that_speaks_it(client: LspClient) -> None:
    """An emoji is two UTF-16 units: the column after it is one more than in code points."""
    text = 'ruleset u\ninput platform: text\ntier a when platform is "😀x" and platfrm is "y"\n'
    uri, published = _open(client, "utf16.tiers", text)
    [diagnostic] = published["diagnostics"]
    start = text.index("platfrm") - text.index("tier")
    assert diagnostic["range"]["start"] == {"line": 2, "character": start + 1}
    hover = client.request("textDocument/hover", _at(uri, {"line": 2, "character": 14}))
    assert hover is not None and "**input** `platform`" in hover["contents"]["value"]


def test_tcp(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tierline", "lsp", "--tcp", str(port)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        with connection:
            body = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "rootUri": None, "capabilities": {}},
                }
            ).encode()
            connection.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            received = b""
            while b'"id": 1' not in received and b'"id":1' not in received:
                chunk = connection.recv(65536)
                assert chunk, "the server closed the connection"
                received += chunk
            assert b'"hoverProvider": true' in received or b'"hoverProvider":true' in received
    finally:
        process.kill()
        process.wait(timeout=10)


def test_an_analysis_overtaken_by_an_edit_is_not_published(client: LspClient) -> None:
    """The solver takes its whole budget on this file: an edit made meanwhile gets its
    own diagnostics, and the first version's analysis, when done, is dropped."""
    text = (ROOT / "tests/cases/findings/undecided_cubes.tiers").read_text()
    uri, first = _open(client, "overtaken.tiers", text)
    assert first["version"] == 1
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text + "\n"}]},
    )
    final = _final_diagnostics(client, uri, 2)
    assert [d["code"] for d in final] == ["analysis-undecided"]
    time.sleep(0.5)
    versions = [
        p.get("version")
        for p in client.notifications("textDocument/publishDiagnostics")
        if p["uri"] == uri
    ]
    assert versions == [1, 2, 2], versions


def test_a_file_with_a_byte_order_mark_answers_as_with_a_space_there(client: LspClient) -> None:
    """A file saved with a BOM, through the real server and its statement cache: tokens,
    hover, definition and diagnostics (through an edit) are those of the same file
    with a space for the mark. The checker used to parse the text without the mark
    through the document's cache, which moved the spans one character back: no
    input, tier or band tokens, and hover on `followers` read "input followers: coun"."""
    text = SYNTHESIS.read_text()
    opened = {}
    for name, first in (("bom.tiers", "\ufeff"), ("bom-as-space.tiers", " ")):
        uri, published = _open(client, name, first + text)
        opened[first] = uri
        assert _final_diagnostics(client, uri, 1) == [] and published["diagnostics"] == []
    bom, spaced = opened["\ufeff"], opened[" "]

    def tokens(uri: str) -> list[int]:
        data = client.request("textDocument/semanticTokens/full", {"textDocument": {"uri": uri}})
        return data["data"]  # type: ignore[no-any-return]

    assert tokens(bom) == tokens(spaced) != []
    formatting = {"textDocument": {"uri": bom}, "options": {"tabSize": 2, "insertSpaces": True}}
    assert client.request("textDocument/formatting", formatting) == []  # the mark stays
    use = _position(text, "followers at least 1M")
    hover = client.request("textDocument/hover", _at(bom, use))
    assert "input followers: count\n" in hover["contents"]["value"]
    assert hover == client.request("textDocument/hover", _at(spaced, use))
    micro = _position(text, "micro labels fashion_expert")
    definition = client.request("textDocument/definition", _at(bom, micro))
    assert definition["range"]["start"] == _position(text, "micro when")
    assert (
        definition["range"]
        == client.request("textDocument/definition", _at(spaced, micro))["range"]
    )
    at = _position(text, "engagement high\n")
    end = {"line": at["line"], "character": at["character"] + len("engagement")}
    found = []
    for uri in (bom, spaced):
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"range": {"start": at, "end": end}, "text": "engagment"}],
            },
        )
        found.append(_final_diagnostics(client, uri, 2))
    assert found[0] == found[1]
    assert [(d["code"], d["range"]["start"]) for d in found[0]] == [("unknown-name", at)]
