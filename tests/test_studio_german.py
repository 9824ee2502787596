"""The studio in German through its HTTP interface (issue 28): a real `tierline
studio` subprocess on a free loopback port answers in the language a request asks for
(`?lang=de` or Accept-Language, which the page sends) and in English otherwise.
What the rules write (names, keywords, literals) stays as written; numbers are German."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.studio_server import HEADERS, rules_folder, studio
from tests.test_studio import SYNTHESIS, sample_csv

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"}


def post(base: str, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(base + path, json=body, headers={**HEADERS, **headers}, timeout=60)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rules_folder(tmp_path_factory.mktemp("studio-de"), SYNTHESIS, "agency.tiers")


@pytest.fixture(scope="module")
def base(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = sample_csv(tmp_path_factory.mktemp("data-de") / "accounts.csv")
    with studio(folder, "--data", str(data), "--max-upload-mb", "1") as url:
        yield url


def text_of(folder: Path) -> str:
    return (folder / SYNTHESIS).read_text(encoding="utf-8")


def test_a_diagnostic_with_its_fix_in_german_and_english_by_default(
    base: str, folder: Path
) -> None:
    broken = text_of(folder).replace("tier nano  when followers", "tier nano  when folowers")
    body = {"path": SYNTHESIS, "text": broken}
    [de] = post(base, "/api/analyze", body, **GERMAN).json()["diagnostics"]
    assert de["message"] == "unbekannter Name 'folowers'"
    assert de["hint"] == "meinten Sie 'followers'?"
    assert de["fix"]["title"] == "'folowers' durch followers ersetzen"
    [en] = post(base, "/api/analyze", body).json()["diagnostics"]
    assert en["message"] == "unknown name 'folowers'" and en["hint"] == "did you mean 'followers'?"
    # the same diagnostic: only the words differ
    assert {k: v for k, v in de.items() if k not in {"message", "hint", "fix"}} == {
        k: v for k, v in en.items() if k not in {"message", "hint", "fix"}
    }
    assert de["fix"]["changes"] == en["fix"]["changes"]
    by_query = post(base, "/api/analyze?lang=de", body).json()["diagnostics"][0]
    assert by_query["message"] == de["message"]


def test_a_german_decimal_comma_is_explained_in_german(base: str, folder: Path) -> None:
    """What a German analyst types first: 3,5% for 3.5%."""
    text = text_of(folder).replace("high   at least 3.5%", "high   at least 3,5%")
    found = post(base, "/api/analyze", {"path": SYNTHESIS, "text": text}, **GERMAN).json()
    [diagnostic] = found["diagnostics"]
    assert diagnostic["message"] == "3,5%: ein Komma ist kein Dezimalpunkt"
    assert diagnostic["hint"] == "schreiben Sie 3.5% mit Punkt"


def test_a_failing_example_is_explained_in_german(base: str, folder: Path) -> None:
    text = text_of(folder).replace("high   at least 3.5%", "high   at least 5%")
    found = post(base, "/api/analyze", {"path": SYNTHESIS, "text": text}, **GERMAN).json()
    failed = [r for r in found["examples"]["results"] if not r["passed"]]
    explanation = failed[0]["explanation"]
    assert explanation.startswith("keine Stufe: keine Stufenregel traf zu")
    assert "Geprüfte Stufen:" in explanation and "braucht engagement high" in explanation
    assert "needs" not in explanation and "tiers tried" not in explanation


def test_hover_in_german(base: str, folder: Path) -> None:
    text = text_of(folder)
    line = next(i for i, t in enumerate(text.splitlines()) if t.startswith("input engagement_rate"))
    at = {"line": line, "character": len("input eng")}
    body = {"path": SYNTHESIS, "text": text, "position": at}
    de = post(base, "/api/hover", body, **GERMAN).json()["contents"]
    assert (
        "Werte: von 0\u00a0% bis 100\u00a0%" in de and "erforderlich: jedes Konto gibt sie an" in de
    )
    assert "input engagement_rate: percent" in de  # the rule file's own text, as written
    en = post(base, "/api/hover", body).json()["contents"]
    assert "values: from 0% to 100%" in en


def test_row_reasons_and_explanation_in_german(base: str, folder: Path) -> None:
    body = {"path": SYNTHESIS, "text": text_of(folder), "sample": "data-0"}
    de = post(base, "/api/table", body, **GERMAN).json()
    en = post(base, "/api/table", body).json()
    assert de["tiers"] == en["tiers"]
    reasons = {r["id"]: r["reason"] for r in de["shown"]}
    english = {r["id"]: r["reason"] for r in en["shown"]}
    # acc0 has 500 followers: no tier, and the German says by how much, German numbers
    assert english["acc0"].startswith("no tier: mega needs followers at least 1M (followers 500:")
    assert reasons["acc0"].startswith(
        "keine Stufe: mega braucht followers at least 1M (followers 500: 999.500 zu wenig)"
    )
    micro = next(r for r in de["shown"] if r["tier"] == "micro")
    assert (
        "engagement_rate 3,2\u00a0%" in micro["reason"]
        or "engagement_rate 4,2\u00a0%" in micro["reason"]
    )
    explained = post(
        base,
        "/api/explain",
        {"path": SYNTHESIS, "text": text_of(folder), "account": micro["account"]},
        **GERMAN,
    ).json()
    assert explained["explanation"].splitlines()[1] == "Warum micro:"
    assert "Regelwerk synthesis, Version 2026-11-25" in explained["explanation"]


def test_impact_examples_in_german(base: str, folder: Path) -> None:
    edited = text_of(folder).replace("high   at least 3.5%", "high   at least 3%")
    body = {"path": SYNTHESIS, "text": edited, "sample": "data-0"}
    found = post(base, "/api/impact", body, **GERMAN).json()
    mega = next(e for e in found["examples"] if e["id"] == "acc41")  # gains tech_expert
    assert mega["old"]["why"] == "mega: followers at least 1M (followers 2.000.000)"
    assert mega["new"]["explanation"].splitlines()[-2:] == [
        "Merkmale: tech_expert",
        '  ✓ tech_expert: topics has any of {"tech", "gaming"} (topics {"gaming", "tech"}); '
        "engagement high (engagement high, engagement_rate 3\u00a0%)",
    ]
    for example in found["examples"]:
        for side in (example["old"], example["new"]):
            assert "needs" not in side["why"] and "tiers tried" not in side["explanation"]


def test_refusals_in_german(base: str, folder: Path) -> None:
    big = b"id,followers\n" + b"x,1\n" * 300_000  # 1.2 MB, over --max-upload-mb 1
    refused = httpx.post(
        base + "/api/samples",
        content=big,
        headers={**HEADERS, **GERMAN, "X-Filename": "gross.csv"},
        timeout=30,
    )
    assert refused.status_code == 413
    assert refused.json()["message"] == (
        "gross.csv ist größer, als das Studio annimmt (1.048.576 Bytes); verwenden Sie einen "
        "Ausschnitt, oder starten Sie das Studio mit --data DATEI"
    )
    missing = httpx.get(
        base + "/api/file", params={"path": "nein.tiers"}, headers=GERMAN, timeout=30
    )
    assert missing.status_code == 404
    assert missing.json()["message"] == "nein.tiers: keine solche Regeldatei"
    english = httpx.get(base + "/api/file", params={"path": "nein.tiers"}, timeout=30)
    assert english.json()["message"] == "nein.tiers: no such rule file"
    broken = text_of(folder).replace("tier nano  when followers", "tier nano  when folowers")
    table = post(
        base, "/api/table", {"path": SYNTHESIS, "text": broken, "sample": "data-0"}, **GERMAN
    )
    assert table.status_code == 422
    assert table.json()["message"] == (
        "synthesis.tiers hat Fehler; beheben Sie sie, um dies zu sehen"
    )


def test_a_missing_column_is_said_in_german(base: str, folder: Path) -> None:
    """The first refusal a rule owner meets with their own export: a column the rules
    need is not in the file. The page's mapping, not the CLI's flag, is the way out."""
    sent = httpx.post(
        base + "/api/samples",
        content=b"id,Follower\nx,1200\n",
        headers={**HEADERS, **GERMAN, "X-Filename": "export.csv"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    body = {"path": SYNTHESIS, "text": text_of(folder), "sample": sent.json()["id"]}
    refused = post(base, "/api/table", body, **GERMAN)
    assert refused.status_code == 422
    assert refused.json()["message"].startswith(
        "keine Spalte für die Eingabe followers, die das Regelwerk synthesis braucht: "
        "die Datei hat 'id', 'Follower'; ordnen Sie unter „Spalte je Eingabe“ eine Spalte zu "
        "(--map followers=SPALTE)"
    )
    english = post(base, "/api/table", body)
    assert english.json()["message"].startswith("no column for the input followers")


def test_completion_details_in_german(base: str, folder: Path) -> None:
    text = text_of(folder).replace("otherwise none\n", "otherwise \n")
    line = next(i for i, t in enumerate(text.splitlines()) if t.startswith("otherwise"))
    at = {"line": line, "character": len("otherwise ")}
    body = {"path": SYNTHESIS, "text": text, "position": at}
    de = {
        i["label"]: i["detail"] for i in post(base, "/api/complete", body, **GERMAN).json()["items"]
    }
    en = {i["label"]: i["detail"] for i in post(base, "/api/complete", body).json()["items"]}
    assert de["none"] == "keine Stufe" and en["none"] == "no tier"
    assert set(de) == set(en)  # the same items, the words of the rules the same


def test_a_refused_account_in_german(base: str, folder: Path) -> None:
    """The reviewer's account (issue 28): every kind of value given said in German, the
    values the account gave or should send as JSON writes them, in backticks."""
    account = {"followers": 3.5, "topics": "x", "platform": 5, "engagement_rate": 4.2}
    body = {"path": SYNTHESIS, "text": text_of(folder), "account": account}
    said = post(base, "/api/explain", body, **GERMAN).json()["error"]
    assert said == (
        "ungültiges Konto: followers: erwartet wird eine Anzahl (ganze Zahl, 0 oder mehr), "
        "erhalten `3.5`; engagement_rate: erwartet wird ein Prozentwert als Bruchteil "
        "(`0.042` ist 4,2\u00a0%) von 0\u00a0% bis 100\u00a0%, erhalten `4.2`; `4.2` ist "
        "420\u00a0%; ein Prozentwert ist ein Bruchteil: 4,2\u00a0% ist `0.042`; topics: "
        'erwartet wird eine Liste von Texten, erhalten "x" (ein Text); platform: erwartet '
        "wird ein Text, erhalten `5` (eine ganze Zahl)"
    )
    english = post(base, "/api/explain", body).json()["error"]
    assert english.endswith("platform: expected a text, got 5 (a whole number)")


SHADOWED = """ruleset synthesis
input followers: count
input likes: count
let r = likes / followers
tier big when r at least 0.5 or followers at least 1000
tier mid when r at least 0.6
otherwise none
"""


def test_a_shadowed_tier_in_german(base: str) -> None:
    """The solver's finding on the page: the tiers above and the example account in
    German ("'big' (line 5) … goes to an earlier tier" was left English)."""
    body = {"path": SYNTHESIS, "text": SHADOWED}
    found = post(base, "/api/analyze", body, **GERMAN).json()["diagnostics"]
    [said] = [d["message"] for d in found if d["code"] == "unreachable-rule"]
    assert said.startswith(
        "Stufe 'mid' kann nie zutreffen: 'big' (Zeile 5) nehmen jedes Konto, das sie nehmen "
        "würde: zum Beispiel erhält followers "
    ), said
    assert said.endswith(" eine frühere Stufe"), said
    english = post(base, "/api/analyze", body).json()["diagnostics"]
    [message] = [d["message"] for d in english if d["code"] == "unreachable-rule"]
    assert message.endswith(" goes to an earlier tier") and "'big' (line 5)" in message
