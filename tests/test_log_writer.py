"""The decision-log line: the fast encoder says exactly what Decision.to_dict says."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings

from engine import load_ruleset
from server.log_writer import DecisionWriter, Masker, WriterConfig
from tests.conftest import RULES
from tests.test_differential import shipped_accounts

SYNTHESIS = load_ruleset(RULES / "synthesis.tiers")
DIVIDES = load_ruleset(
    text="input likes: count\ninput followers: count\ninput topics: set of text\n"
    'let rate = likes / followers\ntier high when rate above 5% and topics has any of {"a"}\n',
    name="divides",
)


def logged(decision: Any, masker: Masker) -> dict[str, Any]:
    stream = io.BytesIO()
    DecisionWriter(stream, masker).write(decision, "acct-1", "Classify", "req-1", "peer", 12)
    return dict(json.loads(stream.getvalue()))


@settings(max_examples=100, deadline=None)
@given(account=shipped_accounts())
def test_log_line_matches_to_dict(account: dict[str, Any]) -> None:
    decision = SYNTHESIS.classify(account)
    event = logged(decision, Masker(WriterConfig("-")))
    expected = decision.to_dict()
    for key in (
        "decision_id",
        "ts",
        "ruleset",
        "version",
        "digest",
        "tier",
        "labels",
        "rule",
        "reasons",
        "notes",
        "input",
        "ignored_fields",
    ):
        assert event[key] == expected[key], key
    assert (event["event"], event["level"], event["logger"]) == (
        "decision",
        "info",
        "tierline.decisions",
    )
    assert (event["account_id"], event["rpc"], event["request_id"], event["latency_us"]) == (
        "acct-1",
        "Classify",
        "req-1",
        12,
    )


def test_division_notes_and_duplicate_topics() -> None:
    decision = DIVIDES.classify({"likes": 3, "followers": 0, "topics": ["a", "a"]})
    event = logged(decision, Masker(WriterConfig("-")))
    assert event["notes"] == decision.to_dict()["notes"] and event["notes"]
    assert event["reasons"] == decision.to_dict()["reasons"]


def test_masking_covers_input_and_reasons() -> None:
    decision = SYNTHESIS.classify(
        {
            "followers": 45_000,
            "engagement_rate": 0.042,
            "topics": ["fashion"],
            "platform": "instagram",
        }
    )
    masker = Masker(
        WriterConfig("-", mask_fields=("followers",), hash_fields=("topics",), hash_key="k")
    )
    event = logged(decision, masker)
    assert event["input"]["followers"] == "***"
    assert event["input"]["topics"].startswith("hmac-sha256:")
    assert event["masked"] == {"followers": "redacted", "topics": "hmac-sha256"}
    observed = [r["observed"] for r in event["reasons"]]
    assert all(o.get("followers", "***") == "***" for o in observed)
    assert all(str(o.get("topics", "hmac-sha256:")).startswith("hmac-sha256:") for o in observed)
    assert "45000" not in json.dumps(event)
    same_key = logged(decision, Masker(WriterConfig("-", hash_fields=("topics",), hash_key="k")))
    assert same_key["input"]["topics"] == event["input"]["topics"]  # keyed hashes can be joined
