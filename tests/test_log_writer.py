"""The decision-log line: the generated encoder says exactly what Decision.to_dict says."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_ruleset
from server.log_lines import DecisionWriter, Masker, WriterConfig, packed, unpacked
from tests.conftest import RULES
from tests.test_differential import SHIPPED, shipped_accounts
from tests.typed_rules import accounts, generated_decision, rulesets

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


DECISION_FIELDS = (
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
)


def assert_same_as_to_dict(decision: Any) -> dict[str, Any]:
    """The log keeps facts: each reason's gap is for explanations, not the log."""
    event = logged(decision, Masker(WriterConfig("-")))
    expected = decision.to_dict()
    for reason in expected["reasons"]:
        reason.pop("gap", None)
    assert {k: event[k] for k in DECISION_FIELDS} == expected
    return event


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(SHIPPED)), account=shipped_accounts())
def test_log_line_matches_to_dict(name: str, account: dict[str, Any]) -> None:
    event = assert_same_as_to_dict(SHIPPED[name].classify(account))
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets(), data=st.data())
def test_generated_rulesets_log_what_to_dict_says(text: str, data: st.DataObject) -> None:
    """Lets, levels, sets, flags, both policies, and `and`/`or`/`not` of every kind."""
    decision = generated_decision(text, data.draw(accounts()))
    if decision is not None:
        assert_same_as_to_dict(decision)


def test_odd_values_still_get_their_line() -> None:
    """Past 64 bits orjson gives up (a let can get there); coerced values and unknown
    fields are logged as seen."""
    square = load_ruleset(
        text="input n: count\nlet square = n * n\ntier big when square above 10\notherwise small\n",
        name="square",
    )
    event = assert_same_as_to_dict(square.classify({"n": 2**62}))
    assert event["reasons"][0]["observed"] == {"square": 2**124}
    for account in (
        {"followers": 2**63 - 1, "engagement_rate": 0.05, "topics": [], "platform": "x"},
        {"followers": 45000.0, "engagement_rate": 1, "topics": ("a", "a"), "platform": "x"},
        {"followers": 5, "engagement_rate": 0.0, "topics": [], "platform": "x", "zz": 1, "a": 2},
    ):
        event = assert_same_as_to_dict(SYNTHESIS.classify(account))
    assert event["ignored_fields"] == ["a", "zz"]


def test_division_notes_and_duplicate_topics() -> None:
    decision = DIVIDES.classify({"likes": 3, "followers": 0, "topics": ["a", "a"]})
    event = logged(decision, Masker(WriterConfig("-")))
    assert event["notes"] == decision.to_dict()["notes"] and event["notes"]
    assert event["reasons"] == assert_same_as_to_dict(decision)["reasons"]


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
    assert not any("gap" in r for r in event["reasons"])  # "55,000 short" would tell
    huge = SYNTHESIS.classify({**decision.account, "followers": 2**63 - 1})
    hashed = Masker(WriterConfig("-", hash_fields=("followers",), hash_key="k"))
    assert logged(huge, hashed)["input"]["followers"].startswith("hmac-sha256:")
    same_key = logged(decision, Masker(WriterConfig("-", hash_fields=("topics",), hash_key="k")))
    assert same_key["input"]["topics"] == event["input"]["topics"]  # keyed hashes can be joined


def test_masking_follows_a_value_into_levels_lets_and_results() -> None:
    ruleset = load_ruleset(
        text="""ruleset private
input followers: count
input email: text
input likes: count
let per_follower = likes / followers
level size from followers
  big   at least 10k
  small otherwise
tier vip   when email == "ceo@secret.example"
tier ratio when per_follower above 0.5
tier sized when size big
otherwise none
label liked when likes above 10
"""
    )
    decision = ruleset.classify({"followers": 40_000, "email": "ceo@secret.example", "likes": 99})
    masker = Masker(
        WriterConfig("-", mask_fields=("email",), hash_fields=("followers",), hash_key="k")
    )
    event = logged(decision, masker)
    values = json.dumps([event["input"], [r["observed"] for r in event["reasons"]]])
    assert "secret" not in values and "40000" not in values and '"big"' not in values
    assert event["masked"] == {
        "email": "redacted",
        "followers": "hmac-sha256",
        "per_follower": "redacted",
        "size": "redacted",
    }
    by_text = {r["text"]: r for r in event["reasons"]}
    assert by_text['email == "ceo@secret.example"']["result"] is None  # would tell the email
    assert by_text["likes above 10"]["result"] is True  # likes is not masked
    assert by_text["likes above 10"]["observed"] == {"likes": 99}
    assert event["tier"] == "vip"  # the decision itself is the product: never masked


def test_packed_records_arrive_as_sent() -> None:
    """Calls pack their decisions with orjson; what orjson refuses travels as is."""
    record = ["0194-id", 1_764_000_000_123_456_789, "acct", {"followers": 5, "topics": ["x"]}]
    odd = ["0194-id", 1, "acct", {"followers": 10**30, "platform": "\ud800"}]
    for value in (record, odd, [{"engagement_rate": 0.1 + 0.2}]):
        assert unpacked(packed(value)) == value
    assert type(packed(record)) is bytes and packed(odd) is odd
