"""Inlay hints and semantic tokens through the real `tierline lsp` subprocess, spoken to
as an editor does (tests/lsp_client.py; every wait bounded): the capabilities and
legend it announces, the tokens of the shipped files decoded with that legend, a
range request, the hints, a broken file, and positions in UTF-16 for a line with
characters outside the Basic Multilingual Plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.services import Document
from tests.conftest import ROOT
from tests.lsp_client import LspClient

SHIPPED = sorted([*ROOT.glob("rules/*.tiers"), *ROOT.glob("definitions/*/*.tiers")])
SYNTHESIS = ROOT / "rules/synthesis.tiers"
STANDARD = {  # the services' kinds as the protocol's standard token types
    "keyword": "keyword",
    "input": "parameter",
    "let": "variable",
    "level": "enum",
    "band": "enumMember",
    "tier": "class",
    "label": "label",
    "number": "number",
    "string": "string",
    "comment": "comment",
    "type": "type",
    "operator": "operator",
    "ruleset": "namespace",
}


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[LspClient, dict[str, Any]]]:
    with LspClient() as client:
        result = client.initialize()
        yield client, result["capabilities"]


def _open(client: LspClient, name: str, text: str) -> str:
    uri = (ROOT / "tests" / "lsp-scratch" / name).as_uri()  # never written
    client.open(uri, text)
    client.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    return uri


def _decoded(data: list[int], legend: dict[str, Any], text: str) -> list[tuple[Any, ...]]:
    """The integers back into (line, UTF-16 start, text, type, declaration)."""
    assert len(data) % 5 == 0
    lines = text.splitlines()
    out = []
    line = start = 0
    for i in range(0, len(data), 5):
        delta_line, delta_start, length, kind, modifiers = data[i : i + 5]
        line += delta_line
        start = start + delta_start if delta_line == 0 else delta_start
        units = lines[line].encode("utf-16-le")
        word = units[start * 2 : (start + length) * 2].decode("utf-16-le")
        declaration = bool(modifiers & (1 << legend["tokenModifiers"].index("declaration")))
        out.append((line, start, word, legend["tokenTypes"][kind], declaration))
    return out


def _tokens(client: LspClient, uri: str, legend: dict[str, Any], text: str) -> list[Any]:
    answer = client.request("textDocument/semanticTokens/full", {"textDocument": {"uri": uri}})
    return _decoded(answer["data"], legend, text)


def test_the_server_announces_hints_and_tokens_with_a_legend(
    session: tuple[LspClient, dict[str, Any]],
) -> None:
    _, capabilities = session
    provider = capabilities["semanticTokensProvider"]
    assert provider["full"] in (True, {"delta": False}) and provider["range"] is True
    assert sorted(provider["legend"]["tokenTypes"]) == sorted(STANDARD.values())
    assert provider["legend"]["tokenModifiers"] == ["declaration"]
    assert capabilities["inlayHintProvider"] in (True, {"resolveProvider": False})


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_tokens_of_a_shipped_file_are_the_services(
    session: tuple[LspClient, dict[str, Any]], path: Any
) -> None:
    client, capabilities = session
    legend = capabilities["semanticTokensProvider"]["legend"]
    text = path.read_text(encoding="utf-8")
    uri = _open(client, f"tokens-{path.name}", text)
    got = _tokens(client, uri, legend, text)
    lines = text.splitlines()
    expected = [
        (
            t.range.start.line,
            t.range.start.character,
            lines[t.range.start.line][t.range.start.character : t.range.end.character],
            STANDARD[t.kind],
            t.declaration,
        )
        for t in Document(text).semantic_tokens()
    ]
    assert got == expected
    assert got, "a shipped file has tokens"


def test_what_the_words_of_the_synthesis_are(session: tuple[LspClient, dict[str, Any]]) -> None:
    client, capabilities = session
    legend = capabilities["semanticTokensProvider"]["legend"]
    text = SYNTHESIS.read_text(encoding="utf-8")
    uri = _open(client, "words-synthesis.tiers", text)
    got = _tokens(client, uri, legend, text)
    micro = text.splitlines().index(
        next(line for line in text.splitlines() if line.startswith("tier micro"))
    )
    on_micro = [(word, kind, declared) for line, _, word, kind, declared in got if line == micro]
    assert on_micro[:3] == [("tier", "keyword", False), ("micro", "class", True),
                            ("when", "keyword", False)]  # fmt: skip
    assert ("followers", "parameter", False) in on_micro
    assert ("engagement", "enum", False) in on_micro and ("high", "enumMember", False) in on_micro
    assert ("10000", "number", False) in on_micro
    kinds = {kind for *_, kind, _ in got}
    assert {"comment", "string", "keyword", "label", "type", "namespace"} <= kinds


def test_a_range_gets_the_tokens_of_its_lines(session: tuple[LspClient, dict[str, Any]]) -> None:
    client, capabilities = session
    legend = capabilities["semanticTokensProvider"]["legend"]
    text = SYNTHESIS.read_text(encoding="utf-8")
    uri = _open(client, "range-synthesis.tiers", text)
    whole = _tokens(client, uri, legend, text)
    answer = client.request(
        "textDocument/semanticTokens/range",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 20, "character": 0}, "end": {"line": 23, "character": 0}},
        },
    )
    part = _decoded(answer["data"], legend, text)
    assert part == [t for t in whole if 20 <= t[0] <= 23]
    assert {t[0] for t in part} == {20, 21, 22, 23}


def test_inlay_hints_say_values_types_and_bands(session: tuple[LspClient, dict[str, Any]]) -> None:
    client, _ = session
    text = (
        "ruleset h\ninput followers: count\ninput engagement_rate: percent\n"
        "level engagement from engagement_rate\n  high at least 3.5%\n  low otherwise\n"
        "let per_mille = followers / 1000\n"
        "tier big when followers at least 10k and engagement is low\notherwise none\n"
    )
    uri = _open(client, "hints.tiers", text)
    hints = client.request(
        "textDocument/inlayHint",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}},
        },
    )
    shown = [(h["position"]["line"], h["position"]["character"], h["label"]) for h in hints]
    lines = text.splitlines()
    assert shown == [
        (4, len("  high at least 3.5%"), "= 0.035"),
        (6, len("let per_mille"), ": number"),
        (7, lines[7].index("10k") + 3, "= 10,000"),
        (7, len(lines[7]), "(below 3.5%)"),
    ]
    assert next(h for h in hints if h["label"] == ": number")["kind"] == 1  # Type
    only_line_7 = client.request(
        "textDocument/inlayHint",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 7, "character": 0}, "end": {"line": 7, "character": 80}},
        },
    )
    assert [h["label"] for h in only_line_7] == ["= 10,000", "(below 3.5%)"]


def test_a_broken_file_still_gets_tokens_and_hints(
    session: tuple[LspClient, dict[str, Any]],
) -> None:
    client, capabilities = session
    legend = capabilities["semanticTokensProvider"]["legend"]
    text = (
        "ruleset x\ninput followers: count\ntier a when folowers abov 1k\n"
        "tier b when followers above 2k\notherwise none\n"
    )
    uri = _open(client, "broken-tokens.tiers", text)
    got = _tokens(client, uri, legend, text)
    words = {word: kind for _, _, word, kind, _ in got}
    assert "folowers" not in words and "abov" not in words  # a misspelling stays plain
    assert words["b"] == "class" and words["1k"] == "number"
    hints = client.request(
        "textDocument/inlayHint",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 5, "character": 0}},
        },
    )
    assert [h["label"] for h in hints] == ["= 2,000"]  # the readable statement's


def test_positions_are_utf16_on_a_line_with_an_emoji() -> None:
    """A text holding 😀 (two UTF-16 units, one code point) before a name on the line:
    tokens and hints after it are placed in UTF-16 units, as the protocol's default."""
    text = (
        "ruleset u\ninput platform: text\ninput followers: count\n"
        'tier a when platform == "😀" and followers above 10k\notherwise none\n'
    )
    with LspClient() as client:
        capabilities = client.initialize(encodings=["utf-16"])["capabilities"]
        legend = capabilities["semanticTokensProvider"]["legend"]
        uri = _open(client, "emoji.tiers", text)
        got = _tokens(client, uri, legend, text)
        on_line = [(start, word, kind) for line, start, word, kind, _ in got if line == 3]
        line = text.splitlines()[3]
        assert (len(line[: line.index("followers")]) + 1, "followers", "parameter") in on_line
        assert (line.index('"'), '"😀"', "string") in on_line
        hints = client.request(
            "textDocument/inlayHint",
            {
                "textDocument": {"uri": uri},
                "range": {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 0}},
            },
        )
        assert [(h["position"]["character"], h["label"]) for h in hints] == [
            (len(line) + 1, "= 10,000")
        ]


def test_tokens_and_hints_follow_an_edit(session: tuple[LspClient, dict[str, Any]]) -> None:
    """The tokens of the whole file are kept for a version: after an edit they are the
    new version's (a level renamed away leaves its uses plain; a bound's hint moves)."""
    client, capabilities = session
    legend = capabilities["semanticTokensProvider"]["legend"]
    text = (
        "ruleset e\ninput followers: count\nlevel size from followers\n"
        "  big at least 10k\n  small otherwise\ntier a when size big\notherwise none\n"
    )
    uri = _open(client, "edited-tokens.tiers", text)
    before = {(line, word): kind for line, _, word, kind, _ in _tokens(client, uri, legend, text)}
    assert before[(5, "size")] == "enum" and before[(5, "big")] == "enumMember"
    edited = text.replace("level size", "level sise").replace("at least 10k", "at least 20k")
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": edited}]},
    )
    after = {(line, word): kind for line, _, word, kind, _ in _tokens(client, uri, legend, edited)}
    assert after[(2, "sise")] == "enum"
    assert (5, "size") not in after  # now a name the file does not declare
    hints = client.request(
        "textDocument/inlayHint",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 7, "character": 0}},
        },
    )
    assert [h["label"] for h in hints] == ["= 20,000"]  # the file has an error: no band hint
