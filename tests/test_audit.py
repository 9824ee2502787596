"""`tierline audit` answers "why did account X get tier T on day D" from the log alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.app import create_server
from server.client import Client
from server.settings import Settings
from tests.conftest import ACCOUNT, RULES, tierline


def audit(log: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tierline audit --log LOG ARGS…`"""
    return tierline("audit", "--log", str(log), *args)


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, Path, list[dict[str, object]]]:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    log = tmp_path / "logs" / "decisions.log"
    accounts = [{**ACCOUNT, "id": "acct-1"}, {**ACCOUNT, "id": "acct-2", "followers": 150_000}]
    result = tierline(
        "eval",
        str(rules / "synthesis.tiers"),
        "--log",
        str(log),
        stdin="\n".join(json.dumps(a) for a in accounts),
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return rules, log, events


def test_audit_a_decision_from_eval_log(logged: tuple[Path, Path, list[dict[str, object]]]) -> None:
    rules, log, events = logged
    result = audit(log, "--decision", str(events[0]["decision_id"]), "--rules", str(rules))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "account acct-1: tier micro, labels fashion_expert" in out
    assert (
        "✗ macro (line 21) needs followers between 100k and 1M; has followers 45,000: 55,000 short"
        in out
    )
    assert "replay with the archived rules: same tier, labels and reasons ✓" in out
    assert "today: the same rules (same digest) are in force" in out


def test_audit_shows_what_todays_rules_would_change(
    logged: tuple[Path, Path, list[dict[str, object]]],
) -> None:
    rules, log, _events = logged
    path = rules / "synthesis.tiers"
    path.write_text(
        path.read_text().replace(
            "tier macro when followers between 100k and 1M",
            "tier macro when followers between 200k and 1M",
        )
    )
    result = audit(log, "--account", "acct-2", "--rules", str(rules))
    assert result.returncode == 0
    assert "tier would be none instead of macro" in result.stdout
    as_json = json.loads(
        audit(log, "--account", "acct-2", "--rules", str(rules), "--format", "json").stdout
    )
    assert as_json["replay"]["same"] is True
    assert as_json["today"]["tier"] is None and as_json["decision"]["tier"] == "macro"


def test_a_tampered_log_is_reported_loudly(
    logged: tuple[Path, Path, list[dict[str, object]]],
) -> None:
    rules, log, events = logged
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace('"tier":"micro"', '"tier":"mega"')
    log.write_text("\n".join(lines) + "\n")
    result = audit(log, "--decision", str(events[0]["decision_id"]), "--rules", str(rules))
    assert result.returncode == 1
    assert (
        "REPLAY DIFFERS FROM THE LOG" in result.stdout
        and "tier: logged mega, replayed micro" in result.stdout
    )


def test_account_at_a_time_picks_the_decision_in_force(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    tierline(
        "eval",
        str(RULES / "synthesis.tiers"),
        "--log",
        str(log),
        stdin=json.dumps({**ACCOUNT, "id": "a"}),
    )
    first = json.loads(log.read_text())
    later = {**first, "decision_id": "later", "ts": "2027-01-01T00:00:00.000000Z"}
    with log.open("a") as handle:
        handle.write(json.dumps(later) + "\n")
    at_day = audit(log, "--account", "a", "--at", first["ts"][:10], "--format", "json")
    assert json.loads(at_day.stdout)["decision"]["decision_id"] == first["decision_id"]
    latest = audit(log, "--account", "a", "--format", "json")
    assert json.loads(latest.stdout)["decision"]["decision_id"] == "later"
    assert audit(log, "--account", "a", "--at", "2001-01-01").returncode == 1


def test_the_service_log_answers_for_a_decision_id_a_caller_got(tmp_path: Path) -> None:
    settings = Settings(
        rules=RULES,
        port=0,
        decision_log=str(tmp_path / "decisions.log"),
        watch=False,
        hash_fields=["platform"],
        hash_key="k",
    )
    running = create_server(settings)
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            decision_id = client.classify({**ACCOUNT, "id": "acct-5"})["decision_id"]
    finally:
        running.stop()
    result = audit(tmp_path / "decisions.log", "--decision", decision_id)
    assert result.returncode == 0, result.stderr
    assert "account acct-5: tier micro" in result.stdout
    assert "rpc Classify" in result.stdout
    assert (
        "replay not possible: the log masks platform" in result.stdout
    )  # hashed, so not replayable
    assert "✓ micro: engagement high" in result.stdout


def test_unknown_decision_and_usage(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    log.write_text("")
    assert audit(log, "--decision", "nope").returncode == 1
    assert audit(tmp_path / "missing.log", "--decision", "x").returncode == 2
    assert audit(log).returncode == 2


def test_a_line_written_twice_and_a_cut_line_are_one_decision(
    logged: tuple[Path, Path, list[dict[str, object]]],
) -> None:
    """A restarted writer may write a batch again, and a killed one may cut a line."""
    rules, log, events = logged
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[0][:70], lines[0], *lines[1:]]) + "\n")
    for how in (["--decision", str(events[0]["decision_id"])], ["--account", "acct-1"]):
        result = audit(log, *how, "--rules", str(rules), "--format", "json")
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["decision"]["decision_id"] == events[0]["decision_id"]
        text = audit(log, *how, "--rules", str(rules)).stdout
        assert text.count("account acct-1: tier micro") == 1
