"""`tierline check` and `tierline fmt`: exit codes, output shapes, file handling."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RULES, tierline
from tierline.cli.main import main


def test_shipped_rules_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(RULES)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "checked 6 files: 0 error(s), 0 warning(s)" in err


def test_errors_exit_1_with_every_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tiers"
    bad.write_text("input followers: count\ntier a when folowers > 1\ntier b when x >\n")
    result = tierline("check", str(bad))
    assert result.returncode == 1
    assert f"ERROR: {bad}:2:13: unknown name 'folowers'" in result.stdout
    assert f"ERROR: {bad}:3:16: expected" in result.stdout
    assert "\033[" not in result.stdout  # no colour when piped
    assert "Traceback" not in result.stderr


def test_json_output_for_machines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tiers"
    bad.write_text("input followers: count\ntier a when folowers > 1\n")
    result = tierline("check", "--format", "json", str(bad))
    assert result.returncode == 1
    [item] = [json.loads(line) for line in result.stdout.splitlines()]
    assert item == {
        "file": str(bad),
        "line": 2,
        "column": 13,
        "end": 8,
        "severity": "error",
        "code": "unknown-name",
        "message": "unknown name 'folowers'",
        "hint": "did you mean 'followers'?",
    }


def test_colour_on_request(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tiers"
    bad.write_text("tier a when x > 1\n")
    assert "\033[31m" in tierline("check", "--color", "always", str(bad)).stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert tierline("check", str(tmp_path / "missing.tiers")).returncode == 2
    assert tierline("check").returncode == 2
    assert tierline("frobnicate").returncode == 2


def test_fmt_check_shows_a_diff_and_fmt_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "r.tiers"
    path.write_text("input   followers :count\ntier a when followers>1\n")
    checked = tierline("fmt", "--check", str(path))
    assert checked.returncode == 1
    assert "+tier a when followers > 1" in checked.stdout
    assert tierline("fmt", str(path)).returncode == 0
    assert path.read_text() == "input followers: count\ntier a when followers > 1\n"
    assert tierline("fmt", "--check", str(path)).returncode == 0


def test_fmt_reads_stdin_for_editors() -> None:
    result = tierline("fmt", "-", stdin="tier a when x>1\n")
    assert result.returncode == 0 and result.stdout == "tier a when x > 1\n"


def test_fmt_refuses_a_file_with_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.tiers"
    path.write_text("tier a when x >\n")
    result = tierline("fmt", str(path))
    assert result.returncode == 1 and "ERROR:" in result.stdout
    assert path.read_text() == "tier a when x >\n"


def test_folders_are_searched_for_tiers_files(tmp_path: Path) -> None:
    shutil.copytree(RULES, tmp_path / "nested" / "rules")
    (tmp_path / "notes.txt").write_text("not a rule file")
    result = tierline("check", str(tmp_path))
    assert result.returncode == 0 and "checked 6 files" in result.stderr


ACCOUNT = (
    '{"followers": 45000, "engagement_rate": 0.042, "topics": ["fashion"], "platform": "instagram"}'
)


def test_test_runs_every_example() -> None:
    result = tierline("test", str(RULES))
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith("39 passed, 0 failed")


def test_a_failing_example_shows_expected_got_and_why(tmp_path: Path) -> None:
    path = tmp_path / "r.tiers"
    path.write_text(
        "input followers: count\ntier big when followers above 10k\notherwise small\n"
        'example "exactly 10k"\n  given followers 10k\n  expect big\n'
    )
    result = tierline("test", str(path))
    assert result.returncode == 1
    assert f"FAIL {path}:4 exactly 10k" in result.stdout
    assert "expected big" in result.stdout and "got      small labels none" in result.stdout
    assert "✗ big (line 2) needs followers above 10k; has followers 10,000" in result.stdout
    assert "0 passed, 1 failed" in result.stdout


def test_eval_one_object() -> None:
    result = tierline("eval", str(RULES / "synthesis.tiers"), "--input", "-", stdin=ACCOUNT)
    assert result.returncode == 0
    decision = json.loads(result.stdout)
    assert decision["tier"] == "micro" and decision["labels"] == ["fashion_expert"]


def test_eval_explain() -> None:
    result = tierline("eval", str(RULES / "synthesis.tiers"), "--explain", stdin=ACCOUNT)
    assert result.returncode == 0
    assert result.stdout.startswith("tier micro: rule 'micro'")
    assert "why micro:" in result.stdout


def test_eval_json_lines_reports_bad_lines_and_classifies_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "accounts.jsonl"
    path.write_text(f'{ACCOUNT}\n{{"followers": -1}}\nnot json\n\n{ACCOUNT}\n')
    result = tierline("eval", str(RULES / "synthesis.tiers"), "--input", str(path))
    assert result.returncode == 1
    assert [json.loads(line)["tier"] for line in result.stdout.splitlines()] == ["micro", "micro"]
    assert f"{path}:2: invalid account: followers" in result.stderr
    assert f"{path}:3: invalid JSON" in result.stderr


def test_eval_usage_errors(tmp_path: Path) -> None:
    assert tierline("eval", str(tmp_path / "none.tiers")).returncode == 2
    rules = str(RULES / "synthesis.tiers")
    assert tierline("eval", rules, "--input", str(tmp_path / "none.jsonl")).returncode == 2


def test_eval_log_masks_as_the_service_does(tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    secret = {"TIERLINE_MASK_FIELDS": '["platform"]', "TIERLINE_HASH_FIELDS": '["topics"]'}
    rules = str(RULES / "synthesis.tiers")
    result = tierline(
        "eval", rules, "--log", str(log), stdin=ACCOUNT, env={**secret, "TIERLINE_HASH_KEY": "k"}
    )
    assert result.returncode == 0, result.stderr
    event = json.loads(log.read_text())
    assert event["input"]["platform"] == "***"
    assert event["input"]["topics"].startswith("hmac-sha256:")
    assert "instagram" not in log.read_text()
    refused = tierline("eval", rules, "--log", str(log), stdin=ACCOUNT, env=secret)
    assert refused.returncode == 2
    assert "tierline eval: hash_fields need a secret: set TIERLINE_HASH_KEY" in refused.stderr


def test_eval_keeps_the_account_id_and_names_a_misspelled_field(tmp_path: Path) -> None:
    account = json.loads(ACCOUNT)
    rows = [
        {**account, "id": "acct-7", "fake_followers_ratio": 0.3},
        {**account, "handle": "@x", "fake_followers_ratio": 0.1},
    ]
    stdin = "\n".join(json.dumps(r) for r in rows)
    rules = str(RULES / "synthesis.tiers")
    result = tierline("eval", rules, stdin=stdin)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["account_id"] == "acct-7" and "id" not in first["ignored_fields"]
    assert first["ignored_fields"] == ["fake_followers_ratio"]
    assert second["account_id"] is None
    warning = "'fake_followers_ratio' is ignored: did you mean 'fake_follower_ratio'?"
    assert result.stderr.count(warning) == 1  # once a field, not once a row
    by_handle = tierline("eval", rules, "--id", "handle", stdin=stdin)
    assert json.loads(by_handle.stdout.splitlines()[1])["account_id"] == "@x"
    strict = tierline("eval", rules, "--strict", stdin=stdin)
    assert strict.returncode == 1 and "not an input of these rules" in strict.stderr


def test_test_in_json_warns_about_files_without_examples_and_escapes_text(
    tmp_path: Path,
) -> None:
    quiet = tmp_path / "quiet.tiers"
    quiet.write_text("input followers: count\ntier a when followers > 1\notherwise none\n")
    sneaky = tmp_path / "sneaky.tiers"
    sneaky.write_text(
        "input followers: count\ntier a when followers > 1\notherwise none\n"
        'example "hidden \\u001b[2J wipe"\n  given followers 5\n  expect none\n'.replace(
            "\\u001b", "\x1b"
        )
    )
    text = tierline("test", str(quiet), str(sneaky))
    assert text.returncode == 1  # the sneaky example fails: 5 is above 1
    assert "WARNING:" in text.stdout and "no examples to run" in text.stdout
    assert "\x1b" not in text.stdout and "\\x1b[2J" in text.stdout
    lines = [
        json.loads(line)
        for line in tierline(
            "test", str(quiet), str(sneaky), "--format", "json"
        ).stdout.splitlines()
    ]
    assert {"file": str(quiet), "warning": "no examples"} in lines
    failed = [line for line in lines if line.get("passed") is False]
    assert failed and failed[0]["expected"] == "none" and "explanation" in failed[0]
    assert lines[-1]["files_without_examples"] == 1 and lines[-1]["failed"] == 1


def test_a_fifo_named_as_a_rule_file_is_read_without_waiting(tmp_path: Path) -> None:
    """`mkfifo x.tiers` with nobody writing: check reports the file empty at once (it
    waited forever), and fmt --check does not hang either."""
    fifo = tmp_path / "x.tiers"
    os.mkfifo(fifo)
    checked = tierline("check", str(fifo))  # conftest bounds the run to 120 s
    assert checked.returncode == 1 and "[no-tiers]" in checked.stdout + checked.stderr
    assert tierline("fmt", "--check", str(fifo)).returncode in (0, 1)


def test_a_command_loads_only_what_it_needs() -> None:
    """`tierline fmt` and `tierline check` on a file start without the solver, the code
    generator or the server (start-up is most of what an editor or CI waits for on a
    small file); `tierline --help` still lists every command."""
    probe = (
        "import sys\n"
        "from tierline.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in ('z3', 'engine.python.codegen', 'server', 'grpc')"
        " if m in sys.modules)\n"
        "print('LOADED', heavy, code)\n"
    )
    shipped = str(RULES / "synthesis.tiers")
    done = subprocess.run(
        [sys.executable, "-c", probe, "fmt", "--check", shipped],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "LOADED [] 0" in done.stdout, done.stdout + done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "tierline", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    for command in ("check", "fmt", "classify", "serve", "audit", "key", "token"):
        assert command in helped.stdout
