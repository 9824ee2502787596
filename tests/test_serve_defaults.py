"""`tierline serve` as an operator meets it (issue 23, items 3 and 9): which ruleset a
request without one gets, stdout that carries only decision-log JSON lines, and a
metrics port that HTTP probes can use. Each test runs the real command."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2

from server.app import create_server
from server.client import account_message
from server.pb import pb, pb_grpc
from server.settings import Settings
from tests.conftest import ACCOUNT, RULES
from tests.real_server import free_port, start_serve, wait_until
from tests.test_faults import health_status, stop

FOLLOWERS = {"followers": 20_000}


def rules_of(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "myrules"
    folder.mkdir()
    for name in names:
        shutil.copy(RULES / f"{name}.tiers", folder)
    return folder


def events(stderr: str) -> list[dict[str, Any]]:
    """The server's own events: every stderr line is one JSON object (not a terminal)."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def test_one_rules_file_is_the_default_and_stdout_is_only_decisions(tmp_path: Path) -> None:
    """The issue's `tierline serve --rules myrules/` with one file: SERVING, requests
    without a ruleset use it, and stdout (the decision log) parses as JSON lines."""
    process, port = start_serve(rules_of(tmp_path, "agency"), "--no-watch")
    try:
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            got = stub.Classify(
                pb.ClassifyRequest(account=account_message(FOLLOWERS, "a1")), timeout=5
            )
            listed = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5)
            streamed = list(
                stub.ClassifyStream(
                    iter([pb.ClassifyRequest(account=account_message(FOLLOWERS, "a2"))]),
                    timeout=5,
                )
            )
        code, errors = stop(process, 15)
        assert process.stdout is not None
        out = process.stdout.read()
    finally:
        process.kill()
    assert code == 0, errors
    assert got.decision.ruleset == "agency" and listed.default_ruleset == "agency"
    assert streamed[0].decision.ruleset == "agency"
    started = next(e for e in events(errors) if e["event"] == "server_started")
    assert started["default_ruleset"] == "agency"
    assert started["default_ruleset_from"] == "the only ruleset served"
    lines = out.splitlines()
    assert lines, "no decision on stdout"
    decisions = [json.loads(line) for line in lines]  # every line, or the test fails here
    assert all(d["event"] == "decision" for d in decisions)
    assert {d["decision_id"] for d in decisions} == {
        got.decision.decision_id,
        streamed[0].decision.decision_id,
    }


def test_two_rulesets_without_synthesis_serve_and_requests_must_name_one(tmp_path: Path) -> None:
    process, port = start_serve(rules_of(tmp_path, "fda", "gnack"), "--decision-log", "off")
    try:
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            with pytest.raises(grpc.RpcError) as unnamed:
                stub.Classify(pb.ClassifyRequest(account=account_message(FOLLOWERS)), timeout=5)
            [streamed] = stub.ClassifyStream(
                iter([pb.ClassifyRequest(account=account_message(FOLLOWERS))]), timeout=5
            )
            batch = pb.ClassifyBatchRequest(accounts=[account_message(FOLLOWERS)])
            with pytest.raises(grpc.RpcError) as unnamed_batch:
                stub.ClassifyBatch(batch, timeout=5)
            named = stub.Classify(
                pb.ClassifyRequest(account=account_message(FOLLOWERS), ruleset="gnack"),
                timeout=5,
            )
            listed = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5)
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    for refused in (unnamed.value, unnamed_batch.value):
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.details() == (
            "ruleset: the request names no ruleset and there is no default ruleset; "
            "name one of: fda, gnack"
        )
    assert streamed.error.code == code_pb2.INVALID_ARGUMENT
    assert "name one of: fda, gnack" in streamed.error.message
    assert named.decision.ruleset == "gnack" and listed.default_ruleset == ""
    said = {e["event"]: e for e in events(errors)}
    assert said["server_started"]["default_ruleset"] is None
    assert "--default-ruleset" in said["no_default_ruleset"]["fix"]


def test_synthesis_is_the_default_among_several(tmp_path: Path) -> None:
    process, port = start_serve(rules_of(tmp_path, "fda", "synthesis"), "--decision-log", "off")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            got = pb_grpc.ClassifierStub(channel).Classify(
                pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5
            )
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    assert got.decision.ruleset == "synthesis"
    started = next(e for e in events(errors) if e["event"] == "server_started")
    assert started["default_ruleset_from"] == "the ruleset 'synthesis' is served"


def test_the_metrics_port_serves_metrics_and_probes_and_404_elsewhere(tmp_path: Path) -> None:
    metrics_port = free_port()
    # A configured default that is not served: up, but not ready.
    process, _port = start_serve(
        rules_of(tmp_path, "fda"),
        "--decision-log",
        "off",
        "--default-ruleset",
        "synthesis",
        "--metrics-port",
        str(metrics_port),
        env={"TIERLINE_DEBOUNCE_MS": "50"},
    )
    base = f"http://127.0.0.1:{metrics_port}"
    try:
        # the server listens after start_wait_seconds even when the first load is slower
        # (a loaded machine): the gauge appears once that load has finished
        assert wait_until(lambda: b"tierline_ruleset_loaded{" in http_get(f"{base}/metrics")[1])
        status, body = http_get(f"{base}/metrics")
        assert status == 200 and b"tierline_ruleset_loaded{" in body
        assert http_get(f"{base}/healthz") == (200, b'{"status":"up"}\n')
        status, body = http_get(f"{base}/readyz")
        assert status == 503
        assert json.loads(body) == {
            "ready": False,
            "failing": {"default_ruleset": "the default ruleset 'synthesis'"},
        }
        for wrong in ("/", "/metricsx", "/metrics/", "/health", "/readyz/x", "/favicon.ico"):
            status, body = http_get(base + wrong)
            assert status == 404 and b"/metrics, /healthz and /readyz" in body, wrong
        head = urllib.request.Request(f"{base}/readyz", method="HEAD")
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(head, timeout=5)
        assert not_ready.value.code == 503
        shutil.copy(RULES / "synthesis.tiers", tmp_path / "myrules")
        assert _wait_ready(f"{base}/readyz", 10), "never ready once synthesis was served"
        assert http_get(f"{base}/readyz") == (200, b'{"ready":true,"failing":{}}\n')
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors


def _wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get(url)[0] == 200:
            return True
        time.sleep(0.1)
    return False


def test_serve_leaves_stdout_empty_when_the_log_is_elsewhere(tmp_path: Path) -> None:
    """stdout is the decision log's: with the log in a file, nothing at all goes there."""
    process, port = start_serve(RULES, "--no-watch", "--decision-log", str(tmp_path / "d.log"))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            pb_grpc.ClassifierStub(channel).Classify(
                pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5
            )
        code, errors = stop(process, 15)
        assert process.stdout is not None
        out = process.stdout.read()
    finally:
        process.kill()
    assert code == 0, errors
    assert out == ""


def test_a_stopped_server_closes_its_metrics_port() -> None:
    """In process (tests run several servers in one process): the port goes with the stop."""
    running = create_server(
        Settings(rules=RULES, port=0, metrics_port=0, decision_log="off", watch=False)
    )
    url = f"http://127.0.0.1:{running.metrics_port}/healthz"
    try:
        assert http_get(url)[0] == 200
    finally:
        running.stop(grace=0)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
