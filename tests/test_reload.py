"""Hot reload while serving: good edits go live within a second, bad ones never do."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import Running, create_server
from server.client import account_message
from server.pb import pb, pb_grpc
from server.settings import Settings
from server.watch import RuleWatcher
from tests.conftest import ACCOUNT, RULES
from tests.real_server import start_serve

GOOD = (RULES / "synthesis.tiers").read_text()
# micro starts at 40k instead of 10k; the examples are updated to match
GOOD_V2 = (
    GOOD.replace('version "2026-11-25"', 'version "v2"')
    .replace(
        "tier micro when followers between 10000 and 100000",
        "tier micro when followers between 40000 and 100000",
    )
    .replace(
        'example "micro starts at exactly 10,000 followers with exactly 3.5% engagement"\n'
        '  given followers 10_000, engagement_rate 3.5%, topics {}, platform "tiktok"\n'
        "  expect micro labels none",
        'example "micro starts at 40,000 in v2"\n'
        '  given followers 40_000, engagement_rate 3.5%, topics {}, platform "tiktok"\n'
        "  expect micro labels none",
    )
    .replace("given followers 20k, engagement_rate 4%", "given followers 50k, engagement_rate 4%")
)
BROKEN = GOOD.replace("tier micro when followers", "tier micro when folowers")
FAILS_EXAMPLE = GOOD.replace(
    "tier nano  when followers between 1k and 10k", "tier nano  when followers between 2k and 10k"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Running]:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    settings = Settings(rules=rules, port=0, decision_log="off", debounce_ms=150, watch=True)
    running = create_server(settings)
    running.watcher = RuleWatcher(running).start()
    time.sleep(0.3)  # the watcher is up
    yield running
    running.stop(grace=1)


def stub_for(running: Running) -> tuple[grpc.Channel, pb_grpc.ClassifierStub]:
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    return channel, pb_grpc.ClassifierStub(channel)


def serving_digest(running: Running, name: str = "synthesis") -> str:
    return running.registry.get(name).digest


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def entry_state(running: Running, name: str = "synthesis") -> Any:
    entry = running.registry.entry(name)
    assert entry is not None
    return entry


def test_a_good_edit_goes_live_within_a_second(served: Running) -> None:
    path = served.settings.rules / "synthesis.tiers"
    old = serving_digest(served)
    path.write_text(GOOD_V2)
    took = wait_for(lambda: serving_digest(served) != old)
    assert took < 1.0
    channel, stub = stub_for(served)
    with channel:
        d = stub.Classify(
            pb.ClassifyRequest(account=account_message({**ACCOUNT, "followers": 20_000})), timeout=5
        )
    assert d.decision.tier == "" and d.decision.version == "v2"
    entry = entry_state(served)
    assert entry.previous_digest == old and entry.state.value == "serving"


@pytest.mark.parametrize(
    "content",
    [BROKEN, FAILS_EXAMPLE, "\x00\xff garbage"],
    ids=["broken", "failing-example", "garbage"],
)
def test_a_bad_edit_is_rejected_and_the_old_version_keeps_serving(
    served: Running, content: str
) -> None:
    path = served.settings.rules / "synthesis.tiers"
    old = serving_digest(served)
    path.write_text(content)
    wait_for(lambda: entry_state(served).last_error is not None)
    assert serving_digest(served) == old
    channel, stub = stub_for(served)
    with channel:
        listed = {
            r.name: r for r in stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5).rulesets
        }
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        d = stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5)
    info = listed["synthesis"]
    assert info.state == pb.LOAD_STATE_REJECTED_SERVING_PREVIOUS and info.digest == old
    assert info.last_error.message and info.last_error.at.seconds > 0
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert d.decision.tier == "micro" and d.decision.digest == old
    path.write_text(GOOD_V2)  # and a later good edit still goes live
    wait_for(lambda: serving_digest(served) != old)
    assert entry_state(served).state.value == "serving"


def test_undoing_a_broken_save_clears_the_rejected_state(served: Running) -> None:
    path = served.settings.rules / "synthesis.tiers"
    path.write_text(BROKEN)
    wait_for(lambda: entry_state(served).state.value != "serving")
    path.write_text(GOOD)  # the version that is serving
    wait_for(lambda: entry_state(served).state.value == "serving")
    assert entry_state(served).last_error is not None  # the attempt stays on record


def test_editor_saves_in_steps_are_not_errors(served: Running) -> None:
    path = served.settings.rules / "synthesis.tiers"
    old = serving_digest(served)
    with open(path, "w") as handle:  # truncate, then write in pieces
        for start in range(0, len(GOOD_V2), 300):
            handle.write(GOOD_V2[start : start + 300])
            handle.flush()
            time.sleep(0.02)
    wait_for(lambda: serving_digest(served) != old)
    tmp = path.with_suffix(".tiers.tmp~")  # write a temporary file, then rename it over
    tmp.write_text(GOOD)
    os.replace(tmp, path)
    wait_for(lambda: serving_digest(served) == old)
    assert entry_state(served).last_error is None


def test_a_new_file_is_loaded_and_a_deleted_one_stops_after_the_debounce(served: Running) -> None:
    new = served.settings.rules / "extra.tiers"
    new.write_text("ruleset extra\ninput n: count\ntier big when n above 10\notherwise small\n")
    wait_for(lambda: served.registry.entry("extra") is not None)
    new.unlink()
    assert served.registry.entry("extra") is not None  # not yet: the deletion must last
    wait_for(lambda: served.registry.entry("extra") is None)
    channel, stub = stub_for(served)
    with channel, pytest.raises(grpc.RpcError) as caught:
        stub.Classify(
            pb.ClassifyRequest(ruleset="extra", account=account_message({"n": 1})), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_two_files_with_one_ruleset_name(served: Running) -> None:
    old = serving_digest(served)
    (served.settings.rules / "copy.tiers").write_text(GOOD_V2)
    wait_for(lambda: entry_state(served).last_error is not None)
    assert "already loaded from" in entry_state(served).last_error.message
    assert serving_digest(served) == old


@pytest.mark.slow
def test_rewrites_under_load_never_fail_a_call(tmp_path: Path) -> None:
    """4 callers against `tierline serve` (its own process, as in production) while
    the file is rewritten 50 times, alternating good and broken versions."""
    from engine import load_ruleset

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "synthesis.tiers"
    old = load_ruleset(path).digest
    new = load_ruleset(text=GOOD_V2, name="synthesis").digest
    process, port = start_serve(
        rules,
        "--decision-log",
        "off",
        env={"TIERLINE_DEBOUNCE_MS": "150"},
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()
    failures: list[Any] = []
    seen: set[str] = set()
    calls = [0]

    def caller() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            accounts = [
                account_message({**ACCOUNT, "followers": f})
                for f in (5_000, 20_000, 45_000, 200_000)
            ]
            while not stop.is_set():
                try:
                    results = stub.ClassifyBatch(
                        pb.ClassifyBatchRequest(accounts=accounts), timeout=5
                    ).results
                except grpc.RpcError as error:
                    failures.append(error)
                    continue
                batch_digests = {r.decision.digest for r in results}
                if len(batch_digests) != 1:
                    failures.append(f"mixed digests in one call: {batch_digests}")
                seen.update(batch_digests)
                calls[0] += 1

    def serving() -> str:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            listed = pb_grpc.ClassifierStub(channel).ListRulesets(
                pb.ListRulesetsRequest(), timeout=5
            )
        return next(r.digest for r in listed.rulesets if r.name == "synthesis")

    try:
        time.sleep(0.5)  # the watcher is up
        threads = [threading.Thread(target=caller) for _ in range(4)]
        for thread in threads:
            thread.start()
        for i in range(50):
            path.write_text(GOOD_V2 if i % 4 == 0 else GOOD if i % 4 == 2 else BROKEN)
            time.sleep(0.2)
        path.write_text(GOOD_V2)
        written = time.monotonic()
        wait_for(lambda: serving() == new, timeout=10)
        live_after = time.monotonic() - written
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        process.terminate()
        process.wait(30)
    assert failures == []
    assert seen <= {old, new} and calls[0] > 50
    assert live_after < 1.0


class DeafWatcher(RuleWatcher):
    """A watcher whose file events never arrive: only the comparisons can find changes."""

    rescan_s = 0.1

    def _watch(self) -> None:
        self._stop.wait()


def counting_loads(running: Running) -> list[str]:
    loads: list[str] = []
    load = running.registry.load

    def counted(source: Any, replacing: str | None = None) -> Any:
        loads.append(source.path)
        return load(source, replacing)

    running.registry.load = counted  # type: ignore[method-assign]
    return loads


def test_what_changed_before_the_watch_began_is_loaded(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    settings = Settings(rules=rules, port=0, decision_log="off", debounce_ms=50, watch=True)
    running = create_server(settings)
    old = serving_digest(running)
    loads = counting_loads(running)
    (rules / "synthesis.tiers").write_text(GOOD_V2)  # saved while the server started
    (rules / "extra.tiers").write_text("ruleset extra\ninput n: count\notherwise small\n")
    (rules / "fda.tiers").unlink()
    running.watcher = DeafWatcher(running).start()
    try:
        wait_for(lambda: serving_digest(running) != old)
        wait_for(lambda: running.registry.entry("extra") is not None)
        wait_for(lambda: running.registry.entry("fda") is None)
        time.sleep(0.5)  # five rescans: nothing is read again
        assert sorted(Path(p).name for p in loads) == ["extra.tiers", "synthesis.tiers"]
    finally:
        running.stop(grace=1)


def test_a_change_without_an_event_is_found_by_the_rescan(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    settings = Settings(rules=rules, port=0, decision_log="off", debounce_ms=50, watch=True)
    running = create_server(settings)
    running.watcher = DeafWatcher(running).start()
    loads = counting_loads(running)
    try:
        time.sleep(0.3)  # the first comparison is done: everything matches what was loaded
        assert loads == []
        old = serving_digest(running)
        path = rules / "synthesis.tiers"
        path.write_text(BROKEN)
        wait_for(lambda: entry_state(running).state.value != "serving")
        assert serving_digest(running) == old  # the last good version keeps serving
        path.write_text(GOOD_V2)
        wait_for(lambda: serving_digest(running) != old)
        time.sleep(0.5)
        assert len(loads) == 2
    finally:
        running.stop(grace=1)


def test_a_renamed_file_keeps_serving_without_a_sighup(served: Running) -> None:
    rules = served.settings.rules
    (rules / "fda.tiers").rename(rules / "fda_tiers_v2.tiers")  # as `mv` does
    wait_for(
        lambda: (e := served.registry.entry("fda")) is not None and e.path.endswith("v2.tiers")
    )
    entry = entry_state(served, "fda")
    assert entry.serving is not None and entry.state.name == "SERVING"
    assert served.registry.get("fda").path.endswith("fda_tiers_v2.tiers")


def test_deleting_one_of_two_copies_leaves_the_other_serving_clean(served: Running) -> None:
    rules = served.settings.rules
    (rules / "copy.tiers").write_text(GOOD_V2)
    wait_for(lambda: entry_state(served).last_error is not None)
    (rules / "copy.tiers").unlink()  # the refused copy goes: its error goes with it
    wait_for(lambda: entry_state(served).last_error is None)
    assert entry_state(served).state.name == "SERVING"
    (rules / "copy.tiers").write_text(GOOD_V2)
    wait_for(lambda: entry_state(served).last_error is not None)
    serving: list[bool] = []
    watching = threading.Event()

    def watch_serving() -> None:  # the name must never be unserved on the way
        while not watching.is_set():
            entry = served.registry.entry("synthesis")
            serving.append(entry is not None and entry.serving is not None)

    watcher = threading.Thread(target=watch_serving)
    watcher.start()
    try:
        (rules / "synthesis.tiers").unlink()  # now the serving one goes: the copy takes over
        wait_for(lambda: entry_state(served).path.endswith("copy.tiers"))
    finally:
        watching.set()
        watcher.join(timeout=5)
    assert serving and all(serving)
    assert served.registry.get("synthesis").version == "v2"


def test_an_older_digest_comes_with_its_own_info(served: Running) -> None:
    old = serving_digest(served)
    (served.settings.rules / "synthesis.tiers").write_text(GOOD_V2)
    wait_for(lambda: serving_digest(served) != old)
    channel, stub = stub_for(served)
    with channel:
        got = stub.GetRuleset(pb.GetRulesetRequest(name="synthesis", digest=old), timeout=5)
        now = stub.GetRuleset(pb.GetRulesetRequest(name="synthesis"), timeout=5)
    assert got.source == GOOD and got.info.digest == old
    assert got.info.version == "2026-11-25" and got.info.state == pb.LOAD_STATE_UNSPECIFIED
    assert now.info.version == "v2" and now.info.state == pb.LOAD_STATE_SERVING
