"""The rules folder is written by others: no file in it hangs, blinds or leaks (issue 24).

Each test runs the real server (in this process with `create_server`, or as
`tierline serve` where signals and memory matter) on a folder holding what a
careless colleague or an attacker could put there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from structlog.testing import capture_logs

from server.app import Running, create_server
from server.client import account_message
from server.pb import pb, pb_grpc
from server.settings import Settings
from server.shown import MAX_DIAGNOSTICS, MAX_TEXT
from server.watch import RuleWatcher
from tests.conftest import ACCOUNT, RULES
from tests.real_server import child_pids, start_serve, wait_until

SECRET = "root:x:0:0:SECRET-LINE-THAT-MUST-NOT-LEAK:/root:/bin/bash"
FDA = (RULES / "fda.tiers").read_text()
FDA_V2 = FDA.replace('version "2026-11-25"', 'version "v2-from-test"', 1)


def many_diagnostics(count: int = 1000) -> str:
    """A file with `count` errors (a misspelled input on every tier)."""
    tiers = [f"tier t{j} when folowers at least {j}" for j in range(count)]
    return "\n".join(["ruleset many", "input followers: count", *tiers, "otherwise none", ""])


def listed(stub: pb_grpc.ClassifierStub) -> dict[str, Any]:
    return {r.path: r for r in stub.ListRulesets(pb.ListRulesetsRequest(), timeout=10).rulesets}


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A folder with a good file, a FIFO, a sparse 3 GB file, an empty file, a link out of
    the folder, a link to a file inside it, and a file with a thousand errors."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fda.tiers").write_text(FDA)
    os.mkfifo(rules / "fifo.tiers")
    with open(rules / "big.tiers", "wb") as handle:
        handle.truncate(3 * 1024**3)
    (rules / "empty.tiers").write_text("")
    outside = tmp_path / "passwd"
    outside.write_text(SECRET + "\n")
    (rules / "passwd.tiers").symlink_to(outside)
    (rules / "store").mkdir()
    (rules / "store" / "linked.tiers").write_text(
        "ruleset linked\ninput followers: count\ntier big when followers at least 1M\n"
        "otherwise none\n"
    )
    (rules / "linked.tiers").symlink_to(rules / "store" / "linked.tiers")
    (rules / "many.tiers").write_text(many_diagnostics())
    return rules


def serve_within(
    seconds: float, rules: Path, *flags: str, **popen: Any
) -> tuple[subprocess.Popen[str], int]:
    """`start_serve`, bounded: a server that never listens (a file holding its start) is
    killed after `seconds` and the test fails, instead of waiting for its first line."""
    box: list[tuple[subprocess.Popen[str], int]] = []
    before = set(child_pids(os.getpid()))
    thread = threading.Thread(
        target=lambda: box.append(start_serve(rules, *flags, **popen)), daemon=True
    )
    thread.start()
    thread.join(seconds)
    if not box:
        for pid in set(child_pids(os.getpid())) - before:  # only the server this started
            os.kill(pid, signal.SIGKILL)
        thread.join(10)
        raise AssertionError(f"tierline serve did not listen within {seconds} s")
    return box[0]


def started_within(seconds: float, start: Callable[[], Running]) -> Running:
    """Start in a thread, so that a start-up blocked by a file fails the test, bounded."""
    box: list[Running] = []
    thread = threading.Thread(target=lambda: box.append(start()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"the server did not start within {seconds} s: a file in the folder held it"
    return box[0]


@pytest.fixture
def served(hostile: Path, tmp_path: Path) -> Iterator[Running]:
    settings = Settings(
        rules=hostile,
        port=0,
        decision_log=str(tmp_path / "decisions.log"),
        default_ruleset="fda",
        debounce_ms=100,
        watch=True,
    )
    running = started_within(20.0, lambda: create_server(settings))
    running.watcher = RuleWatcher(running).start()
    yield running
    running.stop(grace=1)


@pytest.fixture
def stub(served: Running) -> Iterator[pb_grpc.ClassifierStub]:
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        yield pb_grpc.ClassifierStub(channel)


def test_hostile_files_are_refused_and_the_good_ones_serve(
    stub: pb_grpc.ClassifierStub, hostile: Path
) -> None:
    rulesets = listed(stub)
    assert set(rulesets) == {
        "fda.tiers",
        "fifo.tiers",
        "big.tiers",
        "empty.tiers",
        "passwd.tiers",
        "linked.tiers",
        "many.tiers",
    }, "paths are relative to the rules folder"
    assert rulesets["fda.tiers"].state == pb.LOAD_STATE_SERVING
    assert rulesets["linked.tiers"].state == pb.LOAD_STATE_SERVING  # a link inside the folder
    for name, words in {
        "fifo.tiers": "is a FIFO (named pipe), not a rule file; not read",
        "big.tiers": "is 3,221,225,472 bytes; rule files may be at most 16,777,216 bytes",
        "passwd.tiers": "symbolic link that leads outside the rules folder",
    }.items():
        error = rulesets[name].last_error.message
        assert rulesets[name].state == pb.LOAD_STATE_FAILED and words in error, (name, error)
    answer = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=10)
    assert SECRET not in str(answer) and "SECRET" not in str(answer)
    assert str(hostile) not in str(answer), "no caller learns where the rules are kept"
    d = stub.Classify(pb.ClassifyRequest(account=account_message({"followers": 10_000})))
    assert (d.decision.tier, d.decision.rule.file) == ("micro", "fda.tiers")


def test_diagnostics_that_callers_see_are_bounded(stub: pb_grpc.ClassifierStub) -> None:
    """A thousand errors in one file: ListRulesets and GetRuleset stay small."""
    answer = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=10)
    assert answer.ByteSize() < 64 * 1024
    many = next(r for r in answer.rulesets if r.path == "many.tiers")
    # the engine lists 20 of a code and sums up the rest; the server bounds what is left
    assert 21 == len(many.last_error.diagnostics) <= MAX_DIAGNOSTICS
    assert "… and 980 more findings (unknown-name)" in many.last_error.message
    assert len(many.last_error.message) < MAX_TEXT + 200
    assert many.last_error.message.startswith("ERROR: many.tiers:3:")  # relative, as listed
    info = stub.GetRuleset(pb.GetRulesetRequest(name="many"), timeout=10).info
    assert len(info.last_error.diagnostics) == 21 and info.path == "many.tiers"


def test_reload_event_lines_are_bounded(served: Running) -> None:
    path = served.settings.rules / "many2.tiers"
    with capture_logs() as events:
        path.write_text(many_diagnostics(1000).replace("ruleset many", "ruleset many2"))
        assert wait_until(
            lambda: any(e["event"] == "ruleset_rejected" for e in list(events)), timeout=20
        )
    rejected = next(e for e in events if e["event"] == "ruleset_rejected")
    assert len(rejected["diagnostics"]) < MAX_TEXT + 200
    assert "… and 980 more findings (unknown-name)" in rejected["diagnostics"]


def test_a_refused_file_is_not_read_again_until_it_changes(served: Running) -> None:
    """Removals elsewhere in the folder, rescans and SIGHUP's reload leave refused files
    alone; an edit is read at once."""
    rules = served.settings.rules
    with capture_logs() as events:
        for n in range(4):  # each removal used to re-read every file not serving
            (rules / f"gone{n}.tiers").write_text(FDA.replace("ruleset fda", f"ruleset g{n}"))
            assert wait_until(lambda n=n: served.registry.entry(f"g{n}") is not None)
            (rules / f"gone{n}.tiers").unlink()
            assert wait_until(lambda n=n: served.registry.entry(f"g{n}") is None)
        time.sleep(RuleWatcher.rescan_s + 0.5)  # a rescan too
        refused = {"empty.tiers", "big.tiers", "fifo.tiers", "passwd.tiers", "many.tiers"}
        again = [e for e in events if e["event"] == "ruleset_rejected" and e["path"].endswith(
            tuple(refused))]  # fmt: skip
        assert again == [], again
        (rules / "empty.tiers").write_text("ruleset empty\n")  # changed: read again
        assert wait_until(
            lambda: any(
                e["event"] == "ruleset_rejected" and e["path"].endswith("empty.tiers")
                for e in list(events)
            )
        )


def test_a_fifo_added_while_serving_stops_nothing(served: Running, stub: Any) -> None:
    rules = served.settings.rules
    os.mkfifo(rules / "late.tiers")
    (rules / "fda.tiers").write_text(FDA_V2)  # an edit after the FIFO still goes live
    assert wait_until(lambda: served.registry.get("fda").version == "v2-from-test")
    assert "FIFO" in listed(stub)["late.tiers"].last_error.message


def test_a_symlink_swapped_to_leave_the_folder_is_refused(served: Running, tmp_path: Path) -> None:
    link = served.settings.rules / "linked.tiers"
    link.unlink()
    link.symlink_to(tmp_path / "passwd")
    assert wait_until(
        lambda: (
            (e := served.registry.entry("linked")) is not None
            and e.last_error is not None
            and "outside the rules folder" in e.last_error.message
        )
    )
    assert SECRET not in served.registry.entry("linked").last_error.message  # type: ignore[union-attr]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_tierline_serve_listens_reloads_and_stops_whatever_the_folder_holds(
    hostile: Path,
) -> None:
    """`tierline serve` on the hostile folder: it listens, a FIFO added later and a
    SIGHUP do not stop it, its memory never holds the 3 GB file, and SIGTERM ends it
    within the grace time."""
    grace = 2.0
    process, port = serve_within(
        30,
        hostile,
        "--decision-log",
        "off",
        "--default-ruleset",
        "fda",
        env={"TIERLINE_DEBOUNCE_MS": "100", "TIERLINE_GRACE_SECONDS": str(grace)},
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            os.mkfifo(hostile / "added.tiers")
            process.send_signal(signal.SIGHUP)
            (hostile / "fda.tiers").write_text(FDA_V2)
            assert wait_until(
                lambda: listed(stub)["fda.tiers"].version == "v2-from-test", timeout=15
            ), "an edit after a FIFO and a SIGHUP was never served"
            process.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            request = pb.ClassifyRequest(account=account_message(ACCOUNT | {"followers": 9}))
            assert stub.Classify(request, timeout=5).decision.ruleset == "fda"
            assert _peak_rss_kib(process.pid) < 1024 * 1024, "the 3 GB file was read"
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=grace + 10)
        took = time.monotonic() - stopping
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == 0 and took < grace + 5, (code, took)
    assert process.stderr is not None
    errors = process.stderr.read()
    assert SECRET not in errors and "SECRET" not in errors


def test_read_rule_file_refuses_what_is_not_a_regular_file_inside(hostile: Path) -> None:
    """The reader itself, on each kind: never blocks (a FIFO without a writer)."""
    from server.rulefiles import Refused, read_rule_file

    for name in ("fifo.tiers", "big.tiers", "passwd.tiers"):
        started = time.monotonic()
        with pytest.raises(Refused) as refused:
            read_rule_file(hostile, hostile / name)
        assert time.monotonic() - started < 1 and SECRET not in str(refused.value)
    assert read_rule_file(hostile, hostile / "linked.tiers").text.startswith("ruleset linked")
    shutil.rmtree(hostile / "store")
    with pytest.raises(Refused, match="leads nowhere readable"):
        read_rule_file(hostile, hostile / "linked.tiers")


def test_a_file_that_takes_minutes_to_check_does_not_keep_the_server_from_listening(
    tmp_path: Path,
) -> None:
    """A valid 9 MB file (1.5 million comment lines: about 40 s of checking here) named
    to sort first: the others are loaded before it, the server listens after at most
    `start_wait_seconds`, and SIGTERM ends it while the file is still being checked."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "fda.tiers").write_text(FDA)
    padding = "# pad\n" * 1_500_000  # 9 MB, under the 16 MiB limit
    (rules / "aaa.tiers").write_text(
        f"ruleset aaa\ninput followers: count\n{padding}tier a when followers at least 1\n"
        "otherwise none\n"
    )
    started = time.monotonic()
    process, port = serve_within(
        30,
        rules,
        "--decision-log",
        "off",
        "--default-ruleset",
        "fda",
        env={"TIERLINE_START_WAIT_SECONDS": "2", "TIERLINE_GRACE_SECONDS": "2"},
    )
    try:
        assert time.monotonic() - started < 20, "the server waited for the slow file"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            request = pb.ClassifyRequest(account=account_message({"followers": 10_000}))
            assert stub.Classify(request, timeout=5).decision.tier == "micro"
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        took = time.monotonic() - stopping
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == 0 and took < 2 + 5, (code, took)
    assert process.stderr is not None
    assert "rules_still_loading" in process.stderr.read()


def test_the_servers_own_bound_holds_for_many_kinds_of_diagnostic() -> None:
    """The engine bounds each code; a file with many codes still reaches callers as at
    most MAX_DIAGNOSTICS diagnostics and MAX_TEXT characters (server/shown.py)."""
    from engine.language.diagnostics import Diagnostic
    from engine.language.source import Source, Span
    from server.shown import first_diagnostics, rendered

    source = Source("tier x\n" * 800, "many.tiers")
    diagnostics = [
        Diagnostic(f"code-{i % 40}", f"finding {i}", Span(7 * i, 7 * i + 4, i + 1, 1))
        for i in range(800)
    ]
    listed, omitted = first_diagnostics(diagnostics)
    assert len(listed) == MAX_DIAGNOSTICS and omitted == 750
    text = rendered(source, diagnostics)
    assert len(text) < MAX_TEXT + 200 and "… and 750 more diagnostics (800 in all)" in text
