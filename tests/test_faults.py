"""The service under real faults, as an operator meets them: every decision id a caller
received is in the decision log (or, under `--log-when-full drop`, counted), the
service answers throughout, and SIGTERM ends it in time.

Each test starts `tierline serve` for real, keeps callers (unary, batch, stream and
health checks) running against it, does the fault (kill -9, a full disk, a rename,
SIGTERM with open streams, a file that breaks the loader), and then compares what the
callers received with what the log holds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
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
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.client import account_message
from server.pb import pb, pb_grpc
from tests.conftest import ACCOUNT, RULES
from tests.real_server import (
    Callers,
    CannotMount,
    big_ruleset,
    free_port,
    grow_disk,
    logged_ids,
    silent,
    start_serve,
    unread,
    writer_pid,
)
from tests.real_server import (
    small_disk as mounted_small_disk,
)


def stop(process: subprocess.Popen[str], within: float) -> tuple[int, str]:
    """SIGTERM; the exit code and stderr, failing the test if it takes over `within` s."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"SIGTERM did not end the server within {within} s") from None
    assert time.monotonic() - started <= within
    return code, process.stderr.read() if process.stderr else ""


def dropped_metric(metrics_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    found = re.search(rb"^tierline_decision_log_dropped_total ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def health_status(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    return int(answer.status)


def assert_all_received_are_logged(callers: Callers, *logs: Path) -> None:
    logged = set(logged_ids(*logs))
    missing = set(callers.received) - logged
    assert len(callers.received) > 100, callers.errors
    assert not missing, f"{len(missing)} of {len(callers.received)} received ids not in the log"


# ------------------------------------------------------------------ the log writer dies


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_kill_9_of_the_writer_under_load_loses_nothing_and_nothing_hangs(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(RULES, "--decision-log", str(log_path), "--no-watch")
    try:
        callers = Callers(port).start()
        time.sleep(1.0)
        first = writer_pid(process.pid)
        os.kill(first, signal.SIGKILL)
        if not callers.wait_for(lambda: _restarted(process.pid, first), 10):
            callers.stop()
            process.kill()
            raise AssertionError(f"no new writer: {process.communicate(timeout=10)[1][-3000:]}")
        time.sleep(1.0)
        second = writer_pid(process.pid)
        os.kill(second, signal.SIGHUP)  # reopens the log; does not kill the writer
        time.sleep(0.5)
        assert writer_pid(process.pid) == second
        os.kill(second, signal.SIGKILL)
        time.sleep(1.5)
        callers.stop()
        code, errors = stop(process, 10 + 5)
    finally:
        process.kill()
    assert code == 0, errors
    assert errors.count('"decision_log_writer_died"') == 2
    assert_all_received_are_logged(callers, log_path)
    assert not callers.errors, callers.errors  # block: callers waited, none failed
    assert callers.longest_s["health"] < 1.0


def _restarted(server_pid: int, old: int) -> bool:
    try:
        return writer_pid(server_pid, timeout=0.1) != old
    except RuntimeError:
        return False


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_drop_policy_counts_exactly_what_a_dead_writer_cost(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    metrics_port = free_port()
    process, port = start_serve(
        RULES,
        "--decision-log",
        str(log_path),
        "--no-watch",
        "--log-when-full",
        "drop",
        "--metrics-port",
        str(metrics_port),
        env={"TIERLINE_LOG_QUEUE": "2"},  # 2,000 decisions wait at most: drops are certain
    )
    try:
        callers = Callers(port, kinds=("batch", "batch", "unary")).start()
        time.sleep(1.0)
        for _ in range(2):
            os.kill(writer_pid(process.pid), signal.SIGKILL)
            time.sleep(1.0)
        callers.stop()
        time.sleep(1.0)  # the restarted writer catches up with what it was given
        dropped_live = dropped_metric(metrics_port)
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    missing = set(callers.received) - set(logged_ids(log_path))
    final = re.search(r'"dropped_decision_events":(\d+)', errors)
    assert final is not None, errors
    assert len(missing) == int(final.group(1)) >= dropped_live > 0
    assert not callers.errors


# --------------------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs of 2 MiB (root only): a disk that fills up, then gets room again."""
    try:
        with mounted_small_disk(tmp_path / "disk") as where:
            yield where
    except CannotMount as refused:
        pytest.skip(str(refused))


def _serve_on(disk: Path, archive: Path, *flags: str, env: dict[str, str]) -> Any:
    """A server whose decision log is on the small disk (its archive elsewhere)."""
    log_path = disk / "decisions.log"
    process, port = start_serve(
        RULES,
        "--decision-log",
        str(log_path),
        "--archive",
        str(archive),
        "--no-watch",
        *flags,
        env=env,
    )
    return process, port, log_path


def test_a_full_disk_fails_calls_with_unavailable_and_recovers(
    small_disk: Path, tmp_path: Path
) -> None:
    process, port, log_path = _serve_on(
        small_disk, tmp_path / "archive", env={"TIERLINE_LOG_WAIT_SECONDS": "1"}
    )
    try:
        callers = Callers(port, kinds=("batch", "unary", "stream", "health")).start()
        assert callers.wait_for(lambda: callers.errors["UNAVAILABLE"] > 0, 30), "never full"
        assert health_status(port) == health_pb2.HealthCheckResponse.NOT_SERVING
        stub = pb_grpc.ClassifierStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        with pytest.raises(grpc.RpcError) as refused:
            stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "decision log" in str(refused.value.details())
        grow_disk(small_disk)
        assert callers.wait_for(
            lambda: health_status(port) == health_pb2.HealthCheckResponse.SERVING, 10
        )
        after = stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5)
        time.sleep(0.5)
        callers.stop()
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    assert "decision_log_unwritable" in errors and "No space left on device" in errors
    assert_all_received_are_logged(callers, log_path)
    assert after.decision.decision_id in set(logged_ids(log_path))
    for line in log_path.read_bytes().splitlines():
        assert line.startswith(b'{"decision_id":') and line.endswith(b"}")  # no line cut
    assert callers.longest_s["health"] < 1.0


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_a_full_disk_under_drop_counts_exactly_what_is_missing(
    small_disk: Path, tmp_path: Path
) -> None:
    process, port, log_path = _serve_on(
        small_disk, tmp_path / "archive", "--log-when-full", "drop", env={"TIERLINE_LOG_QUEUE": "4"}
    )
    try:
        callers = Callers(port, kinds=("batch", "batch", "unary")).start()
        time.sleep(4.0)  # the 2 MiB fill within a second; then decisions are dropped
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING  # drop: serving
        grow_disk(small_disk)
        time.sleep(1.0)
        callers.stop()
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    final = re.search(r'"dropped_decision_events":(\d+)', errors)
    assert final is not None and int(final.group(1)) > 0, errors
    missing = set(callers.received) - set(logged_ids(log_path))
    assert len(missing) == int(final.group(1))
    assert not callers.errors


# ---------------------------------------------------------------------------- rotation


def test_rotation_by_rename_and_by_sigusr1(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(RULES, "--decision-log", str(log_path), "--no-watch")
    try:
        callers = Callers(port, kinds=("unary", "batch")).start()
        time.sleep(1.0)
        log_path.rename(tmp_path / "decisions.log.1")  # as logrotate does, without a signal
        assert callers.wait_for(lambda: log_path.exists() and log_path.stat().st_size > 0, 5)
        time.sleep(0.5)
        log_path.rename(tmp_path / "decisions.log.2")
        process.send_signal(signal.SIGUSR1)  # ... and with one
        assert callers.wait_for(lambda: log_path.exists() and log_path.stat().st_size > 0, 5)
        time.sleep(0.5)
        callers.stop()
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    parts = [tmp_path / "decisions.log.1", tmp_path / "decisions.log.2", log_path]
    assert all(logged_ids(p) for p in parts)
    assert_all_received_are_logged(callers, *parts)


# ------------------------------------------------------------- SIGTERM with open streams


def test_sigterm_with_open_streams_and_a_short_grace(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(
        RULES,
        "--decision-log",
        str(log_path),
        "--no-watch",
        env={"TIERLINE_GRACE_SECONDS": "1"},
    )
    received: list[str] = []
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.ClassifierStub(channel)

    def endless() -> Iterator[pb.ClassifyRequest]:
        n = 0
        while True:
            n += 1
            yield pb.ClassifyRequest(account=account_message({**ACCOUNT, "followers": n}))
            time.sleep(0.002)

    def read_stream() -> None:
        try:
            for response in stub.ClassifyStream(endless(), timeout=60):
                if response.HasField("decision"):
                    received.append(response.decision.decision_id)
        except grpc.RpcError:
            pass

    readers = [threading.Thread(target=read_stream, daemon=True) for _ in range(4)]
    try:
        for reader in readers:
            reader.start()
        time.sleep(1.5)
        code, errors = stop(process, 1 + 5)
    finally:
        process.kill()
        channel.close()
    for reader in readers:
        reader.join(5)
    assert code == 0, errors
    logged = set(logged_ids(log_path))
    assert len(received) > 100
    missing = [i for i in received if i not in logged]
    assert not missing, f"{len(missing)} of {len(received)} streamed decisions not in the log"


# ----------------------------------------------------------- a file that breaks the loader


def test_files_that_break_the_loader_are_rejected_and_reload_lives_on(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULES / "synthesis.tiers", rules)
    (rules / "big.tiers").write_text(
        "ruleset big\ninput followers: count\ntier a when followers at least "
        + "9" * 5000
        + "\notherwise none\n"
    )
    (rules / "latin1.tiers").write_bytes("ruleset caf\xe9\n".encode("latin-1"))
    (rules / "folder.tiers").mkdir()
    process, port = start_serve(rules, "--decision-log", "off", env={"TIERLINE_DEBOUNCE_MS": "50"})
    try:
        stub = pb_grpc.ClassifierStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        listed = {r.path: r for r in stub.ListRulesets(pb.ListRulesetsRequest()).rulesets}
        for name in ("big", "latin1", "folder"):
            entry = next(r for p, r in listed.items() if p.endswith(f"{name}.tiers"))
            assert entry.state == pb.LOAD_STATE_FAILED and entry.last_error.message, name
        assert "too large for a number" in next(
            r.last_error.message for p, r in listed.items() if p.endswith("big.tiers")
        )
        (rules / "big.tiers").write_text(  # now with a bound past every double
            "ruleset big\ninput followers: count\ntier a when followers at least 1"
            + "0" * 400
            + "\notherwise none\n"
        )
        time.sleep(0.5)
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        fixed = (RULES / "fda.tiers").read_text()
        (rules / "fda.tiers").write_text(fixed)  # a good save after the bad ones still loads
        deadline = time.monotonic() + 10
        names: set[str] = set()
        while time.monotonic() < deadline and "fda" not in names:
            names = {
                r.name
                for r in stub.ListRulesets(pb.ListRulesetsRequest()).rulesets
                if r.state == pb.LOAD_STATE_SERVING
            }
            time.sleep(0.1)
        assert "fda" in names
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    assert "Traceback" not in errors and "Exception in thread" not in errors


def test_health_is_not_serving_while_the_default_ruleset_is_not(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULES / "fda.tiers", rules)
    process, port = start_serve(  # configured: without it, fda (the only one) is the default
        rules,
        "--decision-log",
        "off",
        "--default-ruleset",
        "synthesis",
        env={"TIERLINE_DEBOUNCE_MS": "50"},
    )
    try:
        assert health_status(port) == health_pb2.HealthCheckResponse.NOT_SERVING  # synthesis
        shutil.copy(RULES / "synthesis.tiers", rules)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and health_status(port) != 1:
            time.sleep(0.1)
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING
        (rules / "synthesis.tiers").unlink()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and health_status(port) == 1:
            time.sleep(0.1)
        assert health_status(port) == health_pb2.HealthCheckResponse.NOT_SERVING
        code, _errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0


# ------------------------------------------------------------------ starving the server


@pytest.mark.slow
def test_idle_streams_and_heavy_validations_do_not_starve_health_or_classify(
    tmp_path: Path,
) -> None:
    process, port = start_serve(
        RULES, "--decision-log", "off", "--no-watch", env={"TIERLINE_GRACE_SECONDS": "1"}
    )
    never = threading.Event()
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(4)]
    stubs = [pb_grpc.ClassifierStub(c) for c in channels]
    try:
        idle = [stubs[n % 4].ClassifyStream(silent(never), timeout=60) for n in range(200)]
        deaf = [stubs[n % 4].ClassifyStream(unread(), timeout=60) for n in range(20)]
        source = big_ruleset()
        validations = [
            stubs[n % 4].ValidateRules.future(
                pb.ValidateRulesRequest(source=source, file_name="big.tiers"), timeout=5
            )
            for n in range(16)
        ]
        time.sleep(1.0)  # all of them open and busy
        health = health_pb2_grpc.HealthStub(channels[0])
        for _ in range(30):
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == 1
            answer = stubs[1].Classify(
                pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=2
            )
            assert answer.decision.tier == "micro"
        codes = {v.exception().code() if v.exception() else grpc.StatusCode.OK for v in validations}
        assert codes <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
        small = (RULES / "fda.tiers").read_text()
        checked = stubs[2].ValidateRules(  # the worker stopped at the deadline was replaced
            pb.ValidateRulesRequest(source=small, file_name="fda.tiers"), timeout=10
        )
        assert checked.ok
        code, errors = stop(process, 1 + 5)
    finally:
        never.set()
        process.kill()
        for channel in channels:
            channel.close()
    assert code == 0, errors
    assert len(idle) == 200 and len(deaf) == 20


def test_streams_past_the_limit_are_refused_at_once(tmp_path: Path) -> None:
    process, port = start_serve(
        RULES, "--decision-log", "off", "--no-watch", env={"TIERLINE_MAX_STREAMS": "3"}
    )
    never = threading.Event()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.ClassifierStub(channel)
    try:
        open_ = [stub.ClassifyStream(silent(never), timeout=30) for _ in range(3)]
        time.sleep(0.5)
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.ClassifyStream(iter([pb.ClassifyRequest()]), timeout=5))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "3 streams are open" in str(refused.value.details())
        for call in open_:
            call.cancel()
        time.sleep(0.5)
        answers = list(
            stub.ClassifyStream(
                iter([pb.ClassifyRequest(account=account_message(ACCOUNT))]), timeout=5
            )
        )
        assert answers[0].decision.tier == "micro"  # the slots came back
        code, _errors = stop(process, 15)
    finally:
        never.set()
        process.kill()
        channel.close()
    assert code == 0


def test_a_re_pointed_rules_symlink_is_followed(tmp_path: Path) -> None:
    first, second = tmp_path / "rules-a", tmp_path / "rules-b"
    first.mkdir()
    second.mkdir()
    for name in ("synthesis.tiers", "fda.tiers", "gnack.tiers"):
        shutil.copy(RULES / name, first)
    shutil.copy(RULES / "synthesis.tiers", second)
    newer = (RULES / "fda.tiers").read_text().replace('version "2026-11-25"', 'version "b"')
    (second / "fda.tiers").write_text(newer)
    link = tmp_path / "rules"
    link.symlink_to(first)
    process, port = start_serve(link, "--decision-log", "off", env={"TIERLINE_DEBOUNCE_MS": "50"})
    stub = pb_grpc.ClassifierStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

    def serving() -> dict[str, str]:
        listed = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5).rulesets
        return {r.name: r.version for r in listed if r.state == pb.LOAD_STATE_SERVING}

    try:
        assert set(serving()) == {"synthesis", "fda", "gnack"}
        swap = tmp_path / "rules.new"
        swap.symlink_to(second)
        swap.replace(link)  # what `ln -sfn rules-b rules` does, atomically
        wanted = {"synthesis": "2026-11-25", "fda": "b"}  # gnack went with rules-a
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and serving() != wanted:
            time.sleep(0.1)
        assert serving() == wanted
        code, errors = stop(process, 15)
    finally:
        process.kill()
    assert code == 0, errors
    assert "rules_folder_moved" in errors


def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    process, port = start_serve(RULES, "--decision-log", "off", "--no-watch")
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "tierline",
                "serve",
                "--port",
                str(port),
                "--decision-log",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        code, _errors = stop(process, 15)
    finally:
        process.kill()
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"tierline serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert code == 0


def test_sigterm_stops_a_server_whose_stdout_and_stderr_readers_are_gone(tmp_path: Path) -> None:
    """As when the program that started it died: every event then meets a closed pipe."""
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(RULES, "--decision-log", str(log_path), "--no-watch")
    try:
        stub = pb_grpc.ClassifierStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        got = stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10 + 5)
        assert time.monotonic() - started < 10 + 5
    finally:
        process.kill()
    assert code == 0
    assert got.decision.decision_id in set(logged_ids(log_path))
