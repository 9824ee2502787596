"""End to end: the real server on a free loopback port, called with a real gRPC client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from structlog.testing import capture_logs

from engine import load_ruleset
from server.app import Running, create_server
from server.client import Client, account_message
from server.convert import DecisionEncoder
from server.pb import pb, pb_grpc
from server.settings import Settings
from tests.conftest import ACCOUNT, ROOT, RULES
from tests.slow_link import SlowLink


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("served")
    rules = root / "rules"
    shutil.copytree(RULES, rules)
    (rules / "broken.tiers").write_text("ruleset broken\ninput x: count\ntier a when y > 1\n")
    settings = Settings(
        rules=rules,
        port=0,
        decision_log=str(root / "decisions.log"),
        metrics_port=0,
        max_batch=100,
        watch=False,
        mask_fields=["platform"],
    )
    running = create_server(settings)
    yield running
    running.stop(grace=1)


def request(values: dict[str, Any], **fields: Any) -> pb.ClassifyRequest:
    return pb.ClassifyRequest(account=account_message(values, "acct-1"), **fields)


def test_classify_basic_view(stub: pb_grpc.ClassifierStub) -> None:
    response = stub.Classify(request(ACCOUNT, view=pb.DECISION_VIEW_BASIC), timeout=5)
    d = response.decision
    assert (d.tier, d.has_tier, list(d.labels)) == ("micro", True, ["fashion_expert"])
    assert (d.rule.name, d.rule.line, d.rule.file.endswith("synthesis.tiers")) == (
        "micro",
        22,
        True,
    )
    assert d.ruleset == "synthesis" and len(d.digest) == 64 and len(d.decision_id) == 36
    assert d.account_id == "acct-1"
    assert not d.reasons and not d.explanation and not d.HasField("decided_at")


def test_classify_full_view_has_reasons_and_explanation(stub: pb_grpc.ClassifierStub) -> None:
    d = stub.Classify(request(ACCOUNT, view=pb.DECISION_VIEW_FULL), timeout=5).decision
    first = d.reasons[0]
    assert (first.rule, first.text, first.result, first.gap) == (
        "mega",
        "followers at least 1M",
        False,
        "955,000 short",
    )
    assert first.observed["followers"].int_value == 45_000
    assert "why micro:" in d.explanation and d.decided_at.seconds > 0


def test_no_tier_is_explicit(stub: pb_grpc.ClassifierStub) -> None:
    d = stub.Classify(request({**ACCOUNT, "followers": 12}), timeout=5).decision
    assert d.tier == "" and not d.has_tier and d.rule.name == "none"


def test_unknown_ruleset_is_not_found_and_lists_the_known(stub: pb_grpc.ClassifierStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request(ACCOUNT, ruleset="nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "unknown ruleset 'nope'" in caught.value.details()
    assert "synthesis" in caught.value.details() and "broken" not in caught.value.details()


def test_bad_account_names_each_field_with_bad_request_detail(stub: pb_grpc.ClassifierStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request({**ACCOUNT, "followers": -3, "topics": 7}), timeout=5)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "followers" in error.details() and "topics" in error.details()
    status = rpc_status.from_call(error)
    assert status is not None and status.code == code_pb2.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["followers", "topics"]


def test_pinned_digest(stub: pb_grpc.ClassifierStub, served: Running) -> None:
    digest = served.registry.get("fda").digest
    ok = stub.Classify(request({"followers": 1_000_000}, ruleset="fda", digest=digest), timeout=5)
    assert ok.decision.tier == "macro"
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request({"followers": 5}, ruleset="fda", digest="0" * 64), timeout=5)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_batch_keeps_bad_accounts_in_place(stub: pb_grpc.ClassifierStub) -> None:
    accounts = [
        account_message(ACCOUNT, "a"),
        account_message({"followers": "many"}, "b"),
        account_message({**ACCOUNT, "followers": 2_000_000}, "c"),
    ]
    results = stub.ClassifyBatch(pb.ClassifyBatchRequest(accounts=accounts), timeout=5).results
    assert [r.WhichOneof("result") for r in results] == ["decision", "error", "decision"]
    assert [r.account_id for r in results] == ["a", "b", "c"]
    assert results[1].error.code == code_pb2.INVALID_ARGUMENT
    assert results[1].error.field_violations[0].field == "followers"
    assert results[2].decision.tier == "mega"


def test_batch_over_the_limit(stub: pb_grpc.ClassifierStub) -> None:
    accounts = [account_message(ACCOUNT)] * 101
    with pytest.raises(grpc.RpcError) as caught:
        stub.ClassifyBatch(pb.ClassifyBatchRequest(accounts=accounts), timeout=5)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "limit is 100" in caught.value.details()


def test_stream_survives_bad_messages(stub: pb_grpc.ClassifierStub) -> None:
    requests = [
        request(ACCOUNT),
        request({"followers": -1}),
        request(ACCOUNT, ruleset="nope"),
        request({"followers": 10_000}, ruleset="fda"),
    ]
    responses = list(stub.ClassifyStream(iter(requests), timeout=5))
    assert [r.WhichOneof("result") for r in responses] == ["decision", "error", "error", "decision"]
    assert responses[1].error.code == code_pb2.INVALID_ARGUMENT
    assert responses[2].error.code == code_pb2.NOT_FOUND
    assert responses[3].decision.tier == "micro"


def test_list_and_get_rulesets(stub: pb_grpc.ClassifierStub, served: Running) -> None:
    listed = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5)
    by_name = {r.name: r for r in listed.rulesets}
    assert listed.default_ruleset == "synthesis"
    assert by_name["synthesis"].state == pb.LOAD_STATE_SERVING
    assert by_name["synthesis"].inputs["followers"] == "count"
    broken = by_name["broken"]
    assert broken.state == pb.LOAD_STATE_FAILED
    assert "unknown name 'y'" in broken.last_error.message
    assert broken.last_error.diagnostics[0].line == 3
    got = stub.GetRuleset(pb.GetRulesetRequest(name="fda"), timeout=5)
    assert got.source == (served.settings.rules / "fda.tiers").read_text()
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetRuleset(pb.GetRulesetRequest(name="nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_validate_rules_returns_findings_with_their_witnesses(
    stub: pb_grpc.ClassifierStub,
) -> None:
    source = (ROOT / "tests/cases/findings/unique_set_overlap.tiers").read_text()
    found = stub.ValidateRules(
        pb.ValidateRulesRequest(source=source, file_name="u.tiers"), timeout=10
    )
    assert not found.ok
    overlap = found.diagnostics[0]
    assert (overlap.code, overlap.severity, overlap.line) == ("overlapping-tiers", "error", 7)
    assert list(overlap.witness["topics"].string_list.values) == ["beauty"]
    assert overlap.witness["followers"].int_value == 1_000
    uncovered = stub.ValidateRules(
        pb.ValidateRulesRequest(source=(ROOT / "tests/cases/findings/uncovered.tiers").read_text()),
        timeout=10,
    )
    assert uncovered.ok  # a warning does not refuse the file
    assert uncovered.diagnostics[0].code == "uncovered"
    assert uncovered.diagnostics[0].witness["followers"].int_value >= 1_000


def test_validate_rules(stub: pb_grpc.ClassifierStub) -> None:
    good = stub.ValidateRules(
        pb.ValidateRulesRequest(source=(RULES / "fda.tiers").read_text()), timeout=5
    )
    assert good.ok and len(good.examples) == 10 and good.info.name == "fda"
    bad = stub.ValidateRules(
        pb.ValidateRulesRequest(
            source="input followers: count\ntier a when folowers > 1\n", file_name="x.tiers"
        ),
        timeout=5,
    )
    assert not bad.ok
    assert (bad.diagnostics[0].code, bad.diagnostics[0].line, bad.diagnostics[0].column) == (
        "unknown-name",
        2,
        13,
    )
    assert bad.diagnostics[0].hint == "did you mean 'followers'?"
    assert "x.tiers:2:13" in bad.rendered
    failing = stub.ValidateRules(
        pb.ValidateRulesRequest(
            source='input n: count\ntier a when n > 1\nexample "e"\n  given n 0\n  expect a\n'
        ),
        timeout=5,
    )
    assert (
        not failing.ok
        and not failing.examples[0].passed
        and failing.examples[0].got.startswith("none")
    )
    for careless in ("", "\ufeffruleset cut\ninput followers: count\n"):  # empty, cut off
        empty = stub.ValidateRules(pb.ValidateRulesRequest(source=careless), timeout=5)
        assert not empty.ok and [d.code for d in empty.diagnostics] == ["no-tiers"]


def test_health_and_reflection(served: Running) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tierline.v1.Classifier"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        [listed] = reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for s in listed.list_services_response.service}
        assert {"tierline.v1.Classifier", "grpc.health.v1.Health"} <= names
        [found] = reflect.ServerReflectionInfo(
            iter(
                [
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol="tierline.v1.Classifier"
                    )
                ]
            )
        )
        assert found.file_descriptor_response.file_descriptor_proto


def test_metrics_endpoint(stub: pb_grpc.ClassifierStub, served: Running) -> None:
    stub.Classify(request(ACCOUNT), timeout=5)
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    assert 'tierline_decisions_total{ruleset="synthesis",tier="micro"}' in text
    assert 'tierline_rule_hits_total{rule="micro",ruleset="synthesis"}' in text
    assert 'tierline_rpc_calls_total{code="OK",method="Classify"}' in text
    assert 'tierline_rpc_calls_total{code="NOT_FOUND",method="Classify"}' in text
    assert "tierline_ruleset_loaded{" in text


def test_the_typed_client(served: Running) -> None:
    with Client(f"127.0.0.1:{served.port}") as client:
        decision = client.classify({**ACCOUNT, "id": "acct-9"}, view="full")
        assert decision["tier"] == "micro" and decision["account_id"] == "acct-9"
        assert [
            r["tier"] for r in client.classify_stream([ACCOUNT, {**ACCOUNT, "followers": 5}])
        ] == ["micro", None]
        assert (
            client.classify_batch([{"followers": 1}])[0]["error"]["code"]
            == code_pb2.INVALID_ARGUMENT
        )
        assert {r["name"] for r in client.rulesets()} >= {"synthesis", "fda"}


def signal_in_flight(running: Running) -> threading.Event:
    """An event set once the server has a classifier call in hand."""
    in_flight = threading.Event()
    lookup = running.registry.get

    def get(name: str = "", digest: str = "") -> Any:
        in_flight.set()
        return lookup(name, digest)

    running.registry.get = get  # type: ignore[method-assign]
    return in_flight


def classify_many(port: int, count: int, results: list[Any]) -> None:
    """One FULL batch of `count` accounts; appends the number of results or the error."""
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        accounts = [account_message({**ACCOUNT, "followers": i}, str(i)) for i in range(count)]
        try:
            response = pb_grpc.ClassifierStub(channel).ClassifyBatch(
                pb.ClassifyBatchRequest(accounts=accounts, view=pb.DECISION_VIEW_FULL),
                timeout=60,
            )
            results.append(len(response.results))
        except grpc.RpcError as error:
            results.append(error)


def test_shutdown_lets_in_flight_calls_finish(tmp_path: Path) -> None:
    settings = Settings(
        rules=RULES, port=0, decision_log=str(tmp_path / "d.log"), watch=False, grace_seconds=10
    )
    running = create_server(settings)
    in_flight = signal_in_flight(running)
    results: list[Any] = []
    thread = threading.Thread(target=classify_many, args=(running.port, 10_000, results))
    thread.start()
    assert in_flight.wait(30)
    running.stop()
    thread.join()
    assert results == [10_000]
    logged = (tmp_path / "d.log").read_text().splitlines()
    assert len(logged) == 10_000  # flushed before stop() returned


def test_shutdown_delivers_a_large_response_over_a_slow_link(tmp_path: Path) -> None:
    """The response (7.5 MB) is still on its way when the stop begins: it arrives whole.

    Before the drain, gRPC closed the connection as soon as the call was done, and this
    failed every time (UNAVAILABLE, "Stream removed").
    """
    settings = Settings(
        rules=RULES, port=0, decision_log=str(tmp_path / "d.log"), watch=False, grace_seconds=30
    )
    running = create_server(settings)
    link = SlowLink(running.port, bytes_per_second=8e6)
    in_flight = signal_in_flight(running)
    results: list[Any] = []
    thread = threading.Thread(target=classify_many, args=(link.port, 5_000, results))
    thread.start()
    try:
        assert in_flight.wait(30)
        running.stop()
        thread.join()
    finally:
        link.close()
    assert results == [5_000]
    assert link.resets == 0


def test_a_stopping_server_refuses_new_calls_and_still_answers_health(tmp_path: Path) -> None:
    settings = Settings(
        rules=RULES, port=0, decision_log=str(tmp_path / "d.log"), watch=False, grace_seconds=30
    )
    running = create_server(settings)
    entered, release = threading.Event(), threading.Event()
    lookup = running.registry.get

    def get(name: str = "", digest: str = "") -> Any:
        if not entered.is_set():  # hold the first call until the test lets it go
            entered.set()
            release.wait(30)
        return lookup(name, digest)

    running.registry.get = get  # type: ignore[method-assign]
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.ClassifierStub(channel)
        first = stub.Classify.future(request(ACCOUNT), timeout=30)
        assert entered.wait(30)
        stopper = threading.Thread(target=running.stop)
        stopper.start()
        deadline = time.monotonic() + 10
        while not running.drain.closed and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Classify(request(ACCOUNT), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (refused.value.details() or "")
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
        release.set()
        assert first.result().decision.tier == "micro"
        stopper.join(30)
    assert not stopper.is_alive()
    refused_calls = running.metrics.registry.get_sample_value(
        "tierline_rpc_calls_total", {"method": "Classify", "code": "UNAVAILABLE"}
    )
    assert refused_calls == 1


def test_decision_log_lines_with_masking(stub: pb_grpc.ClassifierStub, served: Running) -> None:
    decision_id = stub.Classify(
        request(ACCOUNT, request_id="req-42"), timeout=5
    ).decision.decision_id
    path = Path(served.settings.decision_log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""  # the writer process may still be starting
        lines = [json.loads(line) for line in text.splitlines() if line]
        found = [e for e in lines if e["decision_id"] == decision_id]
        if found:
            break
        time.sleep(0.1)
    [event] = found
    assert (
        event["event"] == "decision"
        and event["level"] == "info"
        and event["logger"] == "tierline.decisions"
    )
    assert (
        event["tier"] == "micro" and event["request_id"] == "req-42" and event["rpc"] == "Classify"
    )
    assert event["input"]["platform"] == "***" and event["masked"] == {"platform": "redacted"}
    assert event["input"]["followers"] == 45_000
    assert event["rule"] == {
        "name": "micro",
        "kind": "tier",
        "file": str(served.settings.rules / "synthesis.tiers"),
        "line": 22,
    }
    assert event["ts"].endswith("Z") and event["latency_us"] >= 0
    assert any(
        r["text"] == "followers at least 1M" and r["result"] is False for r in event["reasons"]
    )


def test_full_view_reasons_are_the_decisions_reasons() -> None:
    """Every kind of observed value survives the trip into the response, in place; a let
    past int64 (the proto's int) travels as text."""
    rules = load_ruleset(
        text="input n: count\ninput score: number\ninput ok: flag\ninput tags: set of text\n"
        "input name: text\nlet half = score / 2\nlet square = n * n\n"
        'tier a when n above 10 and ok and tags has any of {"x"} and name == "b" and half > 1\n'
        "tier b when square above 10\n"
        "otherwise none\n",
        name="kinds",
    )
    for account in (
        {"n": 11, "score": 4.5, "ok": True, "tags": ["y", "x", "x"], "name": "b"},
        {"n": 3, "score": -1, "ok": False, "tags": [], "name": "c"},
        {"n": 2**40, "score": 0.5, "ok": False, "tags": [], "name": "c"},
    ):
        decision = rules.classify(account)
        message = pb.Decision()
        DecisionEncoder().fill(message, decision, "acct", full=True)
        got = [
            (r.rule, r.kind, r.text, r.result, r.gap or None, dict(r.observed))
            for r in message.reasons
        ]
        want = [
            (
                r.rule,
                r.kind,
                r.text,
                r.result,
                r.gap,
                {k: to_proto(v) for k, v in r.observed.items()},
            )
            for r in decision.reasons
        ]
        assert got == want and message.explanation == decision.explain()
    assert message.reasons[-1].observed["square"].string_value == str(2**80)


def to_proto(value: Any) -> pb.Value:
    if isinstance(value, bool):
        return pb.Value(bool_value=value)
    if isinstance(value, int):
        if abs(value) >= 2**63:
            return pb.Value(string_value=str(value))
        return pb.Value(int_value=value)
    if isinstance(value, float):
        return pb.Value(double_value=value)
    if isinstance(value, str):
        return pb.Value(string_value=value)
    return pb.Value(string_list=pb.StringList(values=list(value)))


def _metric(served: Running, line: str) -> float:
    text = urllib.request.urlopen(
        f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=5
    ).read()
    for row in text.decode().splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


def test_a_cancelled_stream_is_counted_as_cancelled_not_internal(
    stub: pb_grpc.ClassifierStub, served: Running
) -> None:
    key = 'tierline_rpc_calls_total{code="CANCELLED",method="ClassifyStream"}'
    internal = 'tierline_rpc_calls_total{code="INTERNAL",method="ClassifyStream"}'
    before, internal_before = _metric(served, key), _metric(served, internal)

    def forever() -> Iterator[pb.ClassifyRequest]:
        while True:
            yield request(ACCOUNT)
            time.sleep(0.01)

    with capture_logs() as events:
        call = stub.ClassifyStream(forever(), timeout=30)
        for _n, _response in zip(range(3), call, strict=False):
            pass
        call.cancel()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _metric(served, key) == before:
            time.sleep(0.05)
    assert _metric(served, key) == before + 1
    assert _metric(served, internal) == internal_before
    assert not [e for e in events if e.get("log_level") == "error"], events


def test_a_masked_field_is_not_echoed_in_an_error(stub: pb_grpc.ClassifierStub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(request({**ACCOUNT, "platform": 42_424_242}), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "42424242" not in str(error.value.details())
    assert "platform: expected a text, got a whole number (masked)" in str(error.value.details())
    response = stub.ClassifyBatch(
        pb.ClassifyBatchRequest(
            accounts=[account_message({**ACCOUNT, "platform": 42_424_242}, "b")]
        ),
        timeout=5,
    )
    assert "42424242" not in response.results[0].error.message


def test_hashing_without_a_key_is_refused_at_start_up(tmp_path: Path) -> None:
    env = {**os.environ, "TIERLINE_HASH_FIELDS": '["platform"]'}
    env.pop("TIERLINE_HASH_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "tierline", "serve", "--rules", str(RULES), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "tierline serve: hash_fields need a secret: set TIERLINE_HASH_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_view_is_invalid_argument_naming_the_field(
    stub: pb_grpc.ClassifierStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(request(ACCOUNT, view=7), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(error.value.details()).startswith("view: unknown value 7")
    [answer] = stub.ClassifyStream(iter([request(ACCOUNT, view=9)]), timeout=5)
    assert answer.error.code == code_pb2.INVALID_ARGUMENT and "view" in answer.error.message


def test_undeclared_fields_are_reported_in_every_view_and_refused_when_strict(
    stub: pb_grpc.ClassifierStub,
) -> None:
    typo = {**ACCOUNT, "fake_followers_ratio": 0.3}
    basic = stub.Classify(request(typo), timeout=5).decision
    assert list(basic.ignored_fields) == ["fake_followers_ratio"]
    [hint] = basic.ignored_hints
    assert (hint.field, hint.description) == (
        "fake_followers_ratio",
        "did you mean 'fake_follower_ratio'?",
    )
    assert not stub.Classify(request(ACCOUNT), timeout=5).decision.ignored_fields
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(request(typo, strict=True), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fake_followers_ratio: not an input of these rules; did you mean" in str(
        error.value.details()
    )
    batch = stub.ClassifyBatch(
        pb.ClassifyBatchRequest(
            accounts=[account_message(typo, "a"), account_message(ACCOUNT, "b")], strict=True
        ),
        timeout=5,
    )
    assert batch.results[0].error.code == code_pb2.INVALID_ARGUMENT
    assert batch.results[1].decision.tier == "micro"
