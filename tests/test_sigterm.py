"""`tierline serve` as a process: SIGTERM under load loses no decision, and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import grpc

from server.client import account_message
from server.pb import pb, pb_grpc
from tests.conftest import ACCOUNT, RULES
from tests.real_server import start_serve


def test_sigterm_in_the_middle_of_a_load_loses_no_decision(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(RULES, "--decision-log", str(log_path), "--no-watch")
    try:
        run_load_then_sigterm(process, port, log_path)
    finally:
        process.kill()


def run_load_then_sigterm(process: subprocess.Popen[str], port: int, log_path: Path) -> None:
    received: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(kind: str) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            batch = [
                account_message({**ACCOUNT, "followers": f}, str(f))
                for f in range(0, 200_000, 1000)
            ]
            while not stop.is_set():
                try:
                    if kind == "batch":
                        results = stub.ClassifyBatch(
                            pb.ClassifyBatchRequest(accounts=batch), timeout=10
                        ).results
                        ids = [
                            r.decision.decision_id
                            for r in results
                            if r.WhichOneof("result") == "decision"
                        ]
                    elif kind == "stream":
                        requests = iter([pb.ClassifyRequest(account=a) for a in batch[:50]])
                        ids = [
                            r.decision.decision_id
                            for r in stub.ClassifyStream(requests, timeout=10)
                        ]
                    else:
                        ids = [
                            stub.Classify(
                                pb.ClassifyRequest(account=batch[3]), timeout=10
                            ).decision.decision_id
                        ]
                except grpc.RpcError:
                    return  # the server has stopped accepting
                with lock:
                    received.extend(ids)

    threads = [
        threading.Thread(target=load, args=(k,)) for k in ("batch", "stream", "unary", "unary")
    ]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    stop.set()
    for thread in threads:
        thread.join()
    assert code == 0, process.stderr.read() if process.stderr else ""
    logged = {json.loads(line)["decision_id"] for line in log_path.read_text().splitlines()}
    assert len(received) > 100
    missing = set(received) - logged
    assert not missing, (
        f"{len(missing)} of {len(received)} decisions the clients received are not in the log"
    )


def test_a_broken_file_at_start_up_is_reported_and_the_rest_serve(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fda.tiers").write_text((RULES / "fda.tiers").read_text())
    (rules / "broken.tiers").write_text("ruleset broken\ntier a when\n")
    process, port = start_serve(rules, "--decision-log", "off", "--default-ruleset", "fda")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            d = stub.Classify(
                pb.ClassifyRequest(account=account_message({"followers": 10_000})), timeout=5
            )
            assert d.decision.tier == "micro"
            listed = {
                r.name: r for r in stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5).rulesets
            }
            assert listed["broken"].state == pb.LOAD_STATE_FAILED
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0
    assert process.stderr is not None
    errors = process.stderr.read()
    assert "ruleset_rejected" in errors and "broken.tiers:2:" in errors


def test_ctrl_c_to_the_process_group_twice_still_flushes_the_log(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals every process of the group, the log writer too;
    an impatient second press must not deadlock the server or lose a line."""
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(
        RULES, "--decision-log", str(log_path), "--no-watch", start_new_session=True
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            batch = [account_message({**ACCOUNT, "followers": f}, str(f)) for f in range(2000)]
            results = stub.ClassifyBatch(
                pb.ClassifyBatchRequest(accounts=batch), timeout=30
            ).results
        os.killpg(process.pid, signal.SIGINT)
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        process.kill()
    assert code == 0
    logged = {json.loads(line)["decision_id"] for line in log_path.read_text().splitlines()}
    assert {r.decision.decision_id for r in results} <= logged
