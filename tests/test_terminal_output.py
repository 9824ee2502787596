"""What the `tierline` commands print is safe on a terminal, and hostile input lines do
not stop `tierline eval`: through the real CLI, as a user runs it.

A value that came from data (an account id, a text, a set item, a file name) may hold
ESC (ANSI colours, OSC window titles), CR, backspace, NUL, C1 controls, bidi overrides
(U+202E) and newlines; printed raw, they repaint the screen, hide or reorder text, or
forge lines that look like the tool's own. Each arrives escaped (`\\x1b`, `\\u202e`, `\\n`)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from engine import load_ruleset
from engine.python.terminal import json_printable, printable
from tests.conftest import ACCOUNT, RULES, tierline
from tests.traced_explain import explain_traced

# every kind of character that acts on a terminal, as it is shown escaped
HOSTILE = {
    "\x1b[2J\x1b[31m": "\\x1b[2J\\x1b[31m",  # clear the screen, red
    "\x1b]0;owned\x07": "\\x1b]0;owned\\x07",  # OSC: the window's title
    "\r": "\\r",
    "\x00": "\\0",
    "\x08": "\\x08",
    "\u202e": "\\u202e",
    "\u2066": "\\u2066",
    "\u2028": "\\u2028",
    "\x7f": "\\x7f",
    "\x9b": "\\x9b",  # C1 CSI
    "\t": "\\t",
    "\n": "\\n",
}
RAW = "".join(HOSTILE)
ACTING = "\x1b\x07\r\x00\x08\u202e\u2066\u2028\x7f\x9b\t\n"  # the characters of RAW that act
SHOWN = "".join(HOSTILE.values())
FORGED = "\ndecision 00000000-forged at 2020-01-01\naccount admin: tier mega"


def unsafe(text: str, newlines_allowed: bool = True) -> list[str]:
    """The characters in `text` that should never reach a terminal raw."""
    bad = set(ACTING) - ({"\n"} if newlines_allowed else set())
    return sorted({ch for ch in text if ch in bad})


def test_printable_escapes_exactly_what_acts_on_a_terminal() -> None:
    assert printable(RAW) == SHOWN
    assert printable("fashion ünï 😀 \\x1b") == "fashion ünï 😀 \\x1b"  # unchanged
    assert printable("a\nb", newlines=True) == "a\nb"
    assert printable("a\r\nb", newlines=True) == "a\\r\nb"
    encoded = json_printable(json.dumps({"id": RAW}, ensure_ascii=False))
    assert json.loads(encoded) == {"id": RAW} and not unsafe(encoded, newlines_allowed=False)
    indented = json.dumps({"id": RAW, "n": [1]}, ensure_ascii=False, indent=2)
    assert json.loads(json_printable(indented)) == {"id": RAW, "n": [1]}


def test_every_escaped_character_is_one_isprintable_refuses() -> None:
    """`printable` returns at once when str.isprintable() holds: that is sound only if
    every character it escapes is one isprintable() refuses, over all of Unicode."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    escaped = {ch for ch in every if printable(ch) != ch}
    assert not any(ch.isprintable() for ch in escaped)
    assert len(escaped) == 32 + 1 + 32 + 3 + 5 + 4 + 2  # C0, DEL, C1, marks, bidi, separators


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A decision log from `tierline eval --log`: accounts whose ids and texts are hostile."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    log = tmp_path / "logs" / "decisions.log"
    accounts = {
        "forger": {**ACCOUNT, "id": "acct-1" + FORGED},
        "raw": {
            **ACCOUNT,
            "id": "acct-2" + RAW,
            "platform": "ig" + RAW,
            "topics": ["fashion", RAW],
        },
    }
    result = tierline(
        "eval",
        str(rules / "synthesis.tiers"),
        "--log",
        str(log),
        stdin="\n".join(json.dumps(a) for a in accounts.values()),
    )
    assert result.returncode == 0, result.stderr
    assert not unsafe(result.stdout, newlines_allowed=True)  # JSON lines, \u escapes
    ids = [json.loads(line)["decision_id"] for line in result.stdout.splitlines()]
    return rules, log, dict(zip(accounts, ids, strict=True))


def test_an_account_id_with_newlines_cannot_forge_audit_lines(
    logged: tuple[Path, Path, dict[str, str]],
) -> None:
    rules, log, ids = logged
    result = tierline(
        "audit", "--log", str(log), "--decision", ids["forger"], "--rules", str(rules)
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"decision {ids['forger']} at ")
    assert lines[1] == (
        "account acct-1\\ndecision 00000000-forged at 2020-01-01\\naccount admin: tier mega: "
        "tier micro, labels fashion_expert"
    )
    assert [line for line in lines if line.startswith("decision ")] == [lines[0]]
    assert not any(line.startswith("account admin") for line in lines)
    by_account = tierline(
        "audit", "--log", str(log), "--account", "acct-1" + FORGED, "--rules", str(rules)
    )
    assert by_account.stdout == result.stdout


def test_audit_shows_control_characters_and_bidi_overrides_escaped(
    logged: tuple[Path, Path, dict[str, str]],
) -> None:
    rules, log, ids = logged
    result = tierline("audit", "--log", str(log), "--decision", ids["raw"], "--rules", str(rules))
    assert result.returncode == 0, result.stderr
    assert unsafe(result.stdout) == []
    out = result.stdout
    assert f"account acct-2{SHOWN}: tier micro" in out
    assert f'(topics {{"{SHOWN}", "fashion"}})' in out  # a set item, in the explanation
    as_json = tierline(
        "audit", "--log", str(log), "--decision", ids["raw"], "--rules", str(rules),
        "--format", "json",
    )  # fmt: skip
    assert unsafe(as_json.stdout, newlines_allowed=True) == []
    assert json.loads(as_json.stdout)["decision"]["account_id"] == "acct-2" + RAW


def test_an_id_not_in_the_log_is_named_escaped(logged: tuple[Path, Path, dict[str, str]]) -> None:
    _rules, log, _ids = logged
    result = tierline("audit", "--log", str(log), "--account", "nobody\x1b[2J\nforged")
    assert result.returncode == 1
    assert result.stderr == "tierline audit: no account 'nobody\\x1b[2J\\nforged' in the log\n"


def test_eval_explain_and_json_escape_texts_from_data() -> None:
    account = {**ACCOUNT, "platform": "ig" + RAW, "topics": ["fashion", RAW]}
    rules = str(RULES / "synthesis.tiers")
    explained = tierline("eval", rules, "--explain", stdin=json.dumps(account))
    assert explained.returncode == 0, explained.stderr
    assert unsafe(explained.stdout) == []
    assert f'(topics {{"{SHOWN}", "fashion"}})' in explained.stdout
    as_json = tierline("eval", rules, stdin=json.dumps(account))
    assert unsafe(as_json.stdout.rstrip("\n"), newlines_allowed=False) == []
    assert json.loads(as_json.stdout)["input"]["platform"] == "ig" + RAW
    misspelled = tierline("eval", rules, "--strict", stdin=json.dumps({**account, RAW: 1}))
    assert misspelled.returncode == 1
    assert f"{SHOWN}: not an input of these rules" in misspelled.stderr
    assert unsafe(misspelled.stderr.rstrip("\n"), newlines_allowed=False) == []


def test_eval_goes_on_after_lines_nested_too_deeply(tmp_path: Path) -> None:
    """Lines nested 100,000 and 1,000 deep (past the JSON parser), 300 deep (parsed, then
    refused by classify), an id nested 300 deep and a 5,000-digit number: each its own
    error, and the good lines between them are classified."""
    good = json.dumps(ACCOUNT)
    lines = [
        json.dumps({**ACCOUNT, "id": "a1"}),
        '{"followers": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "[" * 1_000 + "]" * 1_000,
        json.dumps({**ACCOUNT, "id": "a2"}),
        json.dumps({**ACCOUNT, "platform": json.loads("[" * 300 + "]" * 300)}),
        json.dumps({**ACCOUNT, "id": json.loads("[" * 300 + "]" * 300)}),
        good.replace("45000", "1" * 5_000),
        json.dumps({**ACCOUNT, "id": "a3"}),
    ]
    data = tmp_path / "accounts.jsonl"
    data.write_text("\n".join(lines) + "\n")
    result = tierline("eval", str(RULES / "synthesis.tiers"), "--input", str(data))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    decided = [json.loads(line)["account_id"] for line in result.stdout.splitlines()]
    assert decided == ["a1", "a2", "a3"]
    deep = "[" * 39
    assert result.stderr.splitlines() == [
        f"tierline: {data}:2: invalid JSON: nested too deeply to read",
        f"tierline: {data}:3: invalid JSON: nested too deeply to read",
        f"tierline: {data}:5: invalid account: platform: expected a text, got {deep}… (a list)",
        f"tierline: {data}:6: id: expected a text or a number as the account's id, "
        f"got {deep}… (a list)",
        f"tierline: {data}:7: invalid JSON: Exceeds the limit (4300 digits) for integer "
        "string conversion",
    ]


def test_check_and_test_escape_file_names_and_texts(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    hostile_name = folder / "x\x1b]0;owned\x07\u202e.tiers"
    forger = folder / "y\nERROR: forged.tiers"
    forger.write_text("input followers: count\ntier a when followers > 1 and\n")
    hostile_name.write_text("input followers: count\ntier a when folowers > 1\n")
    failing = folder / "examples.tiers"
    # a rule file's string holds no NUL, and no CR or U+2028 (line ends); a newline is \n
    text = "".join(ch for ch in RAW if ch not in "\x00\r\u2028")
    in_string, shown = text.replace("\n", "\\n"), printable(text)
    failing.write_text(
        "input platform: text\n"
        'tier a when platform == "ig"\n'
        "otherwise none\n"
        f'example "desc{in_string}"\n'
        f'  given platform "x{in_string}"\n'
        "  expect a\n"
    )
    checked = tierline("check", str(folder))
    assert checked.returncode == 1
    assert unsafe(checked.stdout + checked.stderr) == []
    assert "x\\x1b]0;owned\\x07\\u202e.tiers:2:13: unknown name 'folowers'" in checked.stdout
    heads = [line for line in checked.stdout.splitlines() if line.startswith("ERROR")]
    assert len(heads) == 2  # one a file: the newline in a file's name forged none
    assert any("/y\\nERROR: forged.tiers:2:" in head for head in heads)
    as_json = tierline("check", str(folder), "--format", "json")
    assert unsafe(as_json.stdout, newlines_allowed=True) == []
    files = {json.loads(line)["file"] for line in as_json.stdout.splitlines()}
    assert files == {str(hostile_name), str(forger)}
    tested = tierline("test", str(failing))
    assert tested.returncode == 1
    assert unsafe(tested.stdout) == []
    assert f"FAIL {failing}:4 desc{shown}" in tested.stdout
    assert f'has platform "x{shown}"' in tested.stdout


def test_explanations_escape_file_names_and_versions(tmp_path: Path) -> None:
    """The explanation's head names the rule file and the version: a newline in either
    (a file's name on disk, `version "1\\n…"`) shows as \\n and adds no line."""
    folder = tmp_path / "rules"
    folder.mkdir()
    named = folder / "z\nFAIL forged.tiers"
    named.write_text(
        'version "1\\nFAIL forged too"\n'
        "input followers: count\n"
        "tier a when followers > 10\n"
        "otherwise none\n"
        'example "small"\n  given followers 5\n  expect a\n'
    )
    tested = tierline("test", str(folder))
    assert tested.returncode == 1
    assert [line for line in tested.stdout.splitlines() if line.startswith("FAIL")] == [
        f"FAIL {folder}/z\\nFAIL forged.tiers:5 small"
    ]
    assert (
        f"  tier none: no tier rule matched, so `otherwise none` at {folder}/z\\nFAIL "
        "forged.tiers:4 applies (ruleset z\\nFAIL forged, version 1\\nFAIL forged too)"
    ) in tested.stdout.splitlines()


def test_audit_of_a_log_naming_a_forged_rule_file(
    logged: tuple[Path, Path, dict[str, str]],
) -> None:
    """A log line is anyone's text: its rule file's name names the archived source's file."""
    rules, log, ids = logged
    # split on "\n" only: a log line may hold U+2028 raw, which splitlines() splits on
    events = [json.loads(line) for line in log.read_text().split("\n") if line]
    for event in events:
        event["rule"]["file"] = "synthesis.tiers\nreplay with the archived rules: forged ✓"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    result = tierline(
        "audit", "--log", str(log), "--decision", ids["forger"], "--rules", str(rules)
    )
    assert result.returncode == 0, result.stderr
    assert unsafe(result.stdout) == []
    assert "forged ✓" in result.stdout
    assert not any(line.startswith("replay with the archived rules: forged") for line in
                   result.stdout.splitlines())  # fmt: skip


def test_decision_explain_itself_shows_rule_texts_and_values_escaped() -> None:
    """`Decision.explain()` is what the gRPC FULL view and the reports show: its rule
    texts (a string with ESC in it, a division's note) and values come escaped, and
    the generated explainer says what the traced reference says."""
    ruleset = load_ruleset(
        text=(
            'ruleset hostile\nversion "v\\n2"\n'
            "input platform: text\ninput likes: count\ninput posts: count\n"
            "let per_post = likes / posts\n"
            'tier a when platform == "ig\x1b[31m\u202e" and per_post > 1\n'
            "otherwise none\n"
        ),
        name="hostile",
    )
    decision = ruleset.classify({"platform": "x\x1b]0;t\x07\n", "likes": 5, "posts": 0})
    text = decision.explain()
    assert text == explain_traced(decision)
    assert unsafe(text) == []
    assert (
        '✗ a (line 7) needs platform == "ig\\x1b[31m\\u202e"; has platform "x\\x1b]0;t\\x07\\n"'
        in text
    )
    assert "(ruleset hostile, version v\\n2)" in text
    assert len(text.splitlines()) == 6  # head, tiers tried, a, labels, notes, the note
