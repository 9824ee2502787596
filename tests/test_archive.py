"""The archive of rule sources is part of the decision log (issue 23, item 2).

`tierline audit` replays a decision against the archived source of its digest, so a
source that cannot be archived is a failure of the log, never of the rule file: the
start refuses an archive it cannot write (exit 2, the path and the fix); while
serving, the decisions of a version whose source cannot be kept are refused
(`block`: UNAVAILABLE naming the decision log, health NOT_SERVING) or counted as
dropped (`drop`) until the archive works again; and every decision id a caller got
is in the log, with its source in the archive.

Tests run as root, which file modes do not stop: a read-only folder is a real tmpfs
mounted read-only (`tests/real_server.py`), as a container's read-only root is.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from grpc_health.v1 import health_pb2

from engine import load_ruleset
from server.client import account_message
from server.decision_log import DecisionLog
from server.log_versions import LogUnavailable
from server.metrics import Metrics
from server.pb import pb, pb_grpc
from server.settings import Settings
from tests.conftest import ACCOUNT, RULES, tierline
from tests.real_server import (
    Callers,
    CannotMount,
    free_port,
    logged_ids,
    remount,
    small_disk,
    start_serve,
    wait_until,
)
from tests.test_faults import assert_all_received_are_logged, dropped_metric, health_status, stop


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs that the test can turn read-only and back (root only)."""
    try:
        with small_disk(tmp_path / "disk", "8m") as where:
            yield where
    except CannotMount as refused:
        pytest.skip(str(refused))


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs mounted read-only: nobody, root included, can write in it."""
    try:
        with small_disk(tmp_path / "ro", "1m", read_only=True) as where:
            yield where
    except CannotMount as refused:
        pytest.skip(str(refused))


# ------------------------------------------------------------------------- at start-up


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, one line on stderr naming the path and the fix, nothing on stdout."""
    code, out, err = result.returncode, result.stdout, result.stderr
    assert code == 2, (code, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "ruleset_rejected" not in err
    for word in words:
        assert word in err, (word, err)
    return str(err)


def test_an_archive_under_a_regular_file_refuses_the_start(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n")
    result = tierline(
        "serve",
        "--port",
        "0",
        "--decision-log",
        str(tmp_path / "decisions.log"),
        "--archive",
        str(blocker / "archive"),
    )
    err = assert_refused(result, str(blocker / "archive"), "--archive", "--decision-log off")
    assert f"{blocker} is a file, not a folder" in err


def test_a_read_only_archive_refuses_the_start(read_only_disk: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    result = tierline(
        "serve", "--port", "0", "--decision-log", str(log_path), "--archive", str(read_only_disk)
    )
    assert_refused(result, str(read_only_disk), "Read-only file system", "--archive")
    # The container: a read-only working folder and the default `./archive`.
    result = tierline("serve", "--port", "0", "--rules", str(RULES), cwd=read_only_disk)
    assert_refused(result, str(read_only_disk / "archive"), "Read-only file system")


def test_a_decision_log_under_a_regular_file_refuses_the_start(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("")
    result = tierline("serve", "--port", "0", "--decision-log", str(blocker / "d.log"))
    assert_refused(result, str(blocker / "d.log"), "--decision-log", "is a file, not a folder")


# ----------------------------------------------------------------------- while serving


def _serve_with_archive_on(
    disk: Path, tmp_path: Path, *flags: str
) -> tuple[subprocess.Popen[str], int, Path, Path, Path]:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("synthesis.tiers", "fda.tiers"):
        shutil.copy(RULES / name, rules)
    log_path = tmp_path / "decisions.log"
    archive = disk / "archive"
    process, port = start_serve(
        rules,
        "--decision-log",
        str(log_path),
        "--archive",
        str(archive),
        *flags,
        env={"TIERLINE_DEBOUNCE_MS": "50", "TIERLINE_LOG_WAIT_SECONDS": "1"},
    )
    return process, port, rules, log_path, archive


def _edit_synthesis(rules: Path, version: str) -> None:
    text = (RULES / "synthesis.tiers").read_text()
    (rules / "synthesis.tiers").write_text(
        text.replace('version "2026-11-25"', f'version "{version}"')
    )


def _serving_version(stub: pb_grpc.ClassifierStub, name: str) -> pb.RulesetInfo:
    listed = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5).rulesets
    return next(r for r in listed if r.name == name)


def _archived_digests_cover_the_log(log_path: Path, archive: Path) -> set[str]:
    digests = {
        orjson.loads(line)["digest"]
        for line in log_path.read_bytes().splitlines()
        if line.startswith(b"{")
    }
    kept = {p.stem for p in archive.glob("*.tiers")}
    assert digests <= kept, f"digests in the log without an archived source: {digests - kept}"
    return digests


def test_an_archive_that_turns_read_only_fails_calls_naming_the_log_and_recovers(
    disk: Path, tmp_path: Path
) -> None:
    process, port, rules, log_path, archive = _serve_with_archive_on(disk, tmp_path)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.ClassifierStub(channel)
    request = pb.ClassifyRequest(account=account_message(ACCOUNT))
    try:
        callers = Callers(port, kinds=("batch", "unary", "stream", "health")).start()
        time.sleep(0.5)
        remount(disk, read_only=True)
        _edit_synthesis(rules, "read-only archive")
        assert callers.wait_for(lambda: callers.errors["UNAVAILABLE"] > 0, 20), callers.errors
        with pytest.raises(grpc.RpcError) as refused:
            stub.Classify(request, timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        details = str(refused.value.details())
        assert "decision log" in details and "ruleset 'synthesis'" in details, details
        assert str(archive) in details and "Read-only file system" in details, details
        assert health_status(port) == health_pb2.HealthCheckResponse.NOT_SERVING
        info = _serving_version(stub, "synthesis")  # the file is not to blame: it serves
        assert info.version == "read-only archive" and info.state == pb.LOAD_STATE_SERVING
        assert not info.last_error.message
        assert stub.Classify(  # a version archived before keeps being logged
            pb.ClassifyRequest(account=account_message({"followers": 20_000}), ruleset="fda"),
            timeout=5,
        ).decision.tier
        remount(disk, read_only=False)
        assert wait_until(lambda: health_status(port) == health_pb2.HealthCheckResponse.SERVING, 10)
        after = stub.Classify(request, timeout=5)
        assert after.decision.digest == info.digest
        time.sleep(0.5)
        callers.stop()
        code, errors = stop(process, 15)
    finally:
        channel.close()
        process.kill()
        remount(disk, read_only=False)
    assert code == 0, errors
    assert "decision_log_archive_failed" in errors and "decision_log_archive_recovered" in errors
    assert "ruleset_rejected" not in errors and "Traceback" not in errors
    assert_all_received_are_logged(callers, log_path)
    assert after.decision.decision_id in set(logged_ids(log_path))
    assert info.digest in _archived_digests_cover_the_log(log_path, archive)


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_under_drop_an_unarchivable_version_is_counted_as_dropped(
    disk: Path, tmp_path: Path
) -> None:
    metrics_port = free_port()
    process, port, rules, log_path, archive = _serve_with_archive_on(
        disk, tmp_path, "--log-when-full", "drop", "--metrics-port", str(metrics_port)
    )
    try:
        callers = Callers(port, kinds=("batch", "unary", "health")).start()
        time.sleep(0.5)
        remount(disk, read_only=True)
        _edit_synthesis(rules, "dropped")
        assert wait_until(lambda: dropped_metric(metrics_port) > 0, 20)
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING  # drop: serving
        remount(disk, read_only=False)
        assert wait_until(lambda: len(list(archive.glob("*.tiers"))) == 3, 10)
        time.sleep(0.5)  # the retry that wrote the file has told the log by now
        dropped_then = dropped_metric(metrics_port)
        time.sleep(1.0)
        assert dropped_metric(metrics_port) == dropped_then  # archived: logged again
        callers.stop()
        code, errors = stop(process, 15)
    finally:
        process.kill()
        remount(disk, read_only=False)
    assert code == 0, errors
    assert not callers.errors, callers.errors
    final = re.search(r'"dropped_decision_events":(\d+)', errors)
    assert final is not None, errors
    missing = set(callers.received) - set(logged_ids(log_path))
    assert len(missing) == int(final.group(1)) > 0
    _archived_digests_cover_the_log(log_path, archive)


# ------------------------------------------------------- a version the writer cannot use


@pytest.mark.parametrize("policy", ["block", "drop"])
def test_a_version_the_writer_cannot_encode_is_refused_or_counted(
    tmp_path: Path, policy: str
) -> None:
    """The writer process is real; the version it is sent is one it cannot build (as a
    bug of ours would make it): its decisions never look logged when they are not."""
    log_path = tmp_path / "decisions.log"
    settings = Settings(
        decision_log=str(log_path), archive=tmp_path / "archive", log_when_full=policy
    )
    metrics = Metrics()
    log = DecisionLog(settings, metrics)
    health: list[tuple[bool, str]] = []
    log.on_health = lambda ok, why: health.append((ok, why))
    broken = load_ruleset(RULES / "fda.tiers")
    with log._send_lock:  # the writer gets a source it cannot build under fda's digest
        log._rulesets[broken.digest] = ("ruleset", broken.digest, "tier broken when", "x", "x")
        log.versions.add(broken.digest, "fda", broken.source)
        log._to_writer(log._rulesets[broken.digest])
    good = load_ruleset(RULES / "synthesis.tiers")
    log.register(good, wait_s=30)
    assert log.wait_ready(timeout=30)
    log.served(frozenset([broken.digest, good.digest]))
    decision = broken.classify({"followers": 20_000})
    if policy == "block":
        with pytest.raises(LogUnavailable, match=r"decision log cannot take decisions of ruleset"):
            log.record("Classify", "", 0, [(decision, "refused")])
        assert health[-1][0] is False and "cannot encode" in health[-1][1]
    else:
        log.record("Classify", "", 0, [(decision, "dropped")])
        assert log.dropped == 1
    kept = good.classify(ACCOUNT)
    log.record("Classify", "", 0, [(kept, "kept")])  # other versions are still logged
    log.served(frozenset([good.digest]))  # the broken version replaced: healthy again
    if policy == "block":
        assert health[-1] == (True, "")
    log.close()
    assert [orjson.loads(line)["decision_id"] for line in log_path.read_bytes().splitlines()] == [
        kept.decision_id
    ]
    assert metrics.registry.get_sample_value("tierline_decision_log_dropped_total") == (
        0 if policy == "block" else 1
    )
