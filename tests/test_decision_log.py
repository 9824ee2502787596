"""The server half of the decision log: nothing is lost without being counted."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from engine import load_ruleset
from server.decision_log import DecisionLog
from server.metrics import Metrics
from server.settings import Settings
from tests.conftest import ACCOUNT, RULES


def test_drop_policy_counts_every_decision_it_does_not_write(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    settings = Settings(decision_log=str(log_path), log_when_full="drop", log_queue=1)
    metrics = Metrics()
    log = DecisionLog(settings, metrics)
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    log.register(ruleset)
    log.policy = "block"  # first a batch that waits, to know that the writer is up
    warm = [(ruleset.classify(ACCOUNT), f"warm-{n}") for n in range(100)]
    log.record("ClassifyBatch", "", 0, warm)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not log_path.exists() or log_path.read_bytes().count(b"\n") < len(warm)
    ):
        time.sleep(0.01)
    log.policy = "drop"
    made = [d.decision_id for d, _ in warm]
    for call in range(40):  # far faster than the writer: the one-message queue overflows
        decisions = [(ruleset.classify(ACCOUNT), f"a{call}-{n}") for n in range(1000)]
        made += [d.decision_id for d, _ in decisions]
        log.record("ClassifyBatch", "", 0, decisions)
    log.close()
    written = [orjson.loads(line)["decision_id"] for line in log_path.read_bytes().splitlines()]
    assert log.dropped > 0 and written
    assert len(written) + log.dropped == len(made)
    assert set(written) <= set(made) and len(set(written)) == len(written)
    assert metrics.registry.get_sample_value("tierline_decision_log_dropped_total") == log.dropped


def test_block_policy_writes_every_decision(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    log = DecisionLog(Settings(decision_log=str(log_path), log_queue=1), Metrics())
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    log.register(ruleset)
    made = []
    for call in range(10):
        decisions = [(ruleset.classify(ACCOUNT), f"a{call}-{n}") for n in range(1000)]
        decisions += [(ruleset.classify(ACCOUNT), "small")]  # and one gathered small call
        made += [d.decision_id for d, _ in decisions]
        log.record("ClassifyBatch", "", 0, decisions[:-1])
        log.record("Classify", "", 0, decisions[-1:])
    log.close()
    written = [orjson.loads(line)["decision_id"] for line in log_path.read_bytes().splitlines()]
    assert sorted(written) == sorted(made) and log.dropped == 0


def test_a_message_the_writer_cannot_use_costs_only_itself(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    log = DecisionLog(Settings(decision_log=str(log_path)), Metrics())
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    with log._send_lock:  # straight to the writer, as no server would send them
        log._to_writer(("ruleset", "f00d", "tier broken when", "x.tiers", "x"))
        payload = ("decisions", "f00d", "ClassifyBatch", "", "", 0, "", b'[["id", 1, "a", {}]]')
        log._to_writer(("batch", 0, 1, payload))
    log.register(ruleset)
    decision = ruleset.classify(ACCOUNT)
    log.record("Classify", "", 0, [(decision, "after")])
    log.close()
    lines = log_path.read_bytes().splitlines()
    assert [orjson.loads(line)["decision_id"] for line in lines] == [decision.decision_id]
