"""Classification cases as data (tests/cases/*.yaml) and the Python API contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import ClassifyError, Decision, InputError, RuleConflict, RuleError, load_ruleset
from engine.language.source import Source
from engine.load import check_source
from engine.ruleset import Ruleset
from tests.conftest import ACCOUNT, ROOT, RULES

CASES_DIR = Path(__file__).parent / "cases"


def _documents() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for doc in yaml.unsafe_load_all(path.read_text(encoding="utf-8")):
            for case in doc["cases"]:
                out.append((f"{path.stem}:{case['name']}", doc, case))
    return out


DOCUMENTS = _documents()
_LOADED: dict[str, Ruleset] = {}


def ruleset_for(doc: dict[str, Any]) -> Ruleset:
    key = doc.get("rules") or doc["source"]
    if key not in _LOADED:
        if "rules" in doc:
            _LOADED[key] = load_ruleset(ROOT / doc["rules"])
        elif doc.get("analyse", True):
            _LOADED[key] = load_ruleset(text=doc["source"], name="case")
        else:  # a file the analysis refuses, to see what the evaluator does with it
            _LOADED[key] = Ruleset(check_source(Source(doc["source"], "case"), analyse=False))
    return _LOADED[key]


@pytest.mark.parametrize(("doc", "case"), [d[1:] for d in DOCUMENTS], ids=[d[0] for d in DOCUMENTS])
def test_case(doc: dict[str, Any], case: dict[str, Any]) -> None:
    ruleset = ruleset_for(doc)
    if "want_error" in case:
        with pytest.raises(ClassifyError) as caught:
            ruleset.classify(case["account"])
        for fragment in case["want_error"]:
            assert fragment in str(caught.value)
        return
    decision = ruleset.classify(case["account"])
    want = case["want"]
    assert decision.tier == want["tier"]
    if "labels" in want:
        assert list(decision.labels) == want["labels"]
    if "rule" in want:
        assert decision.rule is not None and decision.rule.name == want["rule"]
    if "ignored_fields" in want:
        assert list(decision.ignored_fields) == want["ignored_fields"]
    if "notes" in want:
        assert list(decision.notes) == want["notes"]
    json.dumps(decision.to_dict())  # always JSON-ready
    assert decision.explain()


# ------------------------------------------------------------------ the Python API


@pytest.fixture(scope="module")
def synthesis() -> Ruleset:
    return load_ruleset(RULES / "synthesis.tiers")


def test_contract_example(synthesis: Ruleset) -> None:
    d = synthesis.classify(ACCOUNT)
    assert d.tier == "micro"
    assert d.labels == ("fashion_expert",)
    assert d.rule is not None
    assert (d.rule.name, d.rule.file, d.rule.line) == ("micro", str(RULES / "synthesis.tiers"), 22)
    assert synthesis.name == "synthesis" and synthesis.version == "2026-11-25"
    assert len(synthesis.digest) == 64
    assert synthesis.inputs["followers"] == "count"
    assert synthesis.tiers == ("mega", "macro", "micro", "nano")


def test_explanation_says_why_and_by_how_much(synthesis: Ruleset) -> None:
    text = synthesis.classify(ACCOUNT).explain()
    assert "why micro:" in text
    assert "✓ followers between 10000 and 100000 (followers 45,000)" in text
    assert "✓ engagement high (engagement high, engagement_rate 4.2%)" in text
    assert (
        "✗ macro (line 21) needs followers between 100k and 1M; has followers 45,000: 55,000 short"
        in text
    )
    assert (
        "✗ mega (line 20) needs followers at least 1M; has followers 45,000: 955,000 short" in text
    )


def test_explanation_of_no_tier(synthesis: Ruleset) -> None:
    account = {**ACCOUNT, "engagement_rate": 0.008}
    text = synthesis.classify(account).explain()
    assert text.startswith("tier none: no tier rule matched, so `otherwise none`")
    assert (
        "✗ micro (line 22) needs engagement high; "
        "has engagement low, engagement_rate 0.8%: 2.7% short" in text
    )


def test_to_dict_is_the_decision_log_shape(synthesis: Ruleset) -> None:
    d = synthesis.classify({**ACCOUNT, "id": "acct-1"})
    out = d.to_dict()
    assert out["tier"] == "micro" and out["labels"] == ["fashion_expert"]
    assert out["rule"] == {
        "name": "micro",
        "kind": "tier",
        "file": str(RULES / "synthesis.tiers"),
        "line": 22,
    }
    assert out["ruleset"] == "synthesis" and out["digest"] == synthesis.digest
    assert out["ignored_fields"] == ["id"]
    assert out["input"]["fake_follower_ratio"] == 0.0
    assert out["reasons"][0] == {
        "rule": "mega",
        "kind": "tier",
        "text": "followers at least 1M",
        "observed": {"followers": 45000},
        "result": False,
        "gap": "955,000 short",
    }
    assert out["ts"].endswith("Z")


def test_decision_ids_are_unique_and_sortable(synthesis: Ruleset) -> None:
    ids = [synthesis.classify(ACCOUNT).decision_id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids)  # UUID version 7


def test_classify_many_keeps_errors_in_place(synthesis: Ruleset) -> None:
    out = synthesis.classify_many([ACCOUNT, {"followers": -1}, "not an account", ACCOUNT])
    assert isinstance(out[0], Decision) and isinstance(out[3], Decision)
    assert isinstance(out[1], InputError) and isinstance(out[2], InputError)
    assert [p.field for p in out[1].problems] == [
        "followers",
        "engagement_rate",
        "topics",
        "platform",
    ]


def test_classify_many_resumes_after_each_error_and_leaves_the_collector_as_it_was(
    synthesis: Ruleset,
) -> None:
    import gc

    bad = {"followers": -1}
    rows = [bad, bad, ACCOUNT, bad, ACCOUNT, ACCOUNT, bad]
    kinds = [type(x).__name__ for x in synthesis.classify_many(iter(rows))]
    assert kinds == ["InputError", "InputError", "Decision", "InputError", "Decision",
                     "Decision", "InputError"]  # fmt: skip
    assert synthesis.classify_many([]) == []
    assert gc.isenabled()
    gc.disable()
    try:
        synthesis.classify_many([ACCOUNT])
        assert not gc.isenabled()  # paused by the caller: stays paused
    finally:
        gc.enable()


def test_input_error_names_field_expected_and_given(synthesis: Ruleset) -> None:
    with pytest.raises(InputError) as caught:
        synthesis.classify({**ACCOUNT, "followers": -5})
    [problem] = caught.value.problems
    assert (problem.field, problem.given, problem.kind) == ("followers", "-5", "a whole number")
    assert "a count" in problem.expected


def test_load_from_text_with_a_name() -> None:
    rs = load_ruleset(
        text="input followers: count\ntier big when followers above 10\n", name="adhoc"
    )
    assert rs.name == "adhoc" and rs.classify({"followers": 11}).tier == "big"
    assert (
        rs.classify({"followers": 10}).tier is None and rs.classify({"followers": 10}).rule is None
    )


def test_load_errors_are_rule_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleError):
        load_ruleset(text="tier a when b\n")
    with pytest.raises(TypeError):
        load_ruleset()


def test_unique_conflict_is_its_own_error() -> None:
    text = "policy unique\ninput n: count\nlet m = n + 1\ntier a when n > 1\ntier b when m > 3\n"
    with pytest.raises(RuleError, match="for example n 3"):  # the analysis sees it too
        load_ruleset(text=text)
    rs = Ruleset(check_source(Source(text, "<text>"), analyse=False))
    with pytest.raises(RuleConflict) as caught:
        rs.classify({"n": 5})
    assert caught.value.rules == (("a", 4), ("b", 5))


def test_decision_keeps_the_callers_account(synthesis: Ruleset) -> None:
    account = {**ACCOUNT, "followers": 45_000.0, "extra": 1}  # takes the slow path
    d = synthesis.classify(account)
    assert d.account is account and d.ignored_fields == ("extra",)
    assert d.input["followers"] == 45_000


@pytest.mark.parametrize("path", sorted(RULES.glob("*.tiers")), ids=lambda p: p.stem)
def test_shipped_examples_pass(path: Path) -> None:
    results = load_ruleset(path).run_examples()
    assert results, "every shipped ruleset has examples"
    assert [r.example.description for r in results if not r.passed] == []
