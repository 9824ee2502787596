"""Every error of a file in one run, also several on one line (issue 23, item 7).

The mistakes are injected into a shipped rule file that checks clean, so that
each test knows exactly which errors there are: all of them must be reported,
each where it was made, and nothing else (no error a repair made up).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import grpc
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.language.diagnostics import RuleError
from engine.language.mistakes import blank_texts
from engine.language.source import Source
from engine.load import check_source
from server.app import create_server
from server.pb import pb, pb_grpc
from server.settings import Settings
from tests.conftest import RULES, tierline

SYNTHESIS = (RULES / "synthesis.tiers").read_text(encoding="utf-8")
Report = tuple[int, int, str]  # line, column, code


def reported(text: str) -> list[Report]:
    try:
        check_source(Source(text, "t.tiers"), analyse=False)
    except RuleError as error:
        return [(d.span.line, d.span.col, d.code) for d in error.diagnostics]
    return []


# (pattern in the clean file, what the author writes instead, the code it must get)
MISTAKES: list[tuple[str, str, str]] = [
    (r"(?<![\w.])(\d+)\.(\d+)%", r"\1,\2 %", "syntax"),  # 3.5% -> 3,5 %
    (r"(?<![\w.,])(\d+)%", r"\1 %", "syntax"),  # 1% -> 1 %
    (r"(?<![\w.])(\d{1,3})k\b", r"\1.000", "ambiguous-number"),  # 10k -> 10.000
    (r"(?<![\w.])1M\b", "1.000.000", "syntax"),
    (r"(?<![\w.])(\d{2,3})(000)\b", r"\1,\2", "syntax"),  # 10000 -> 10,000
    (r"\bat least\b", "≥", "syntax"),
    (r"\babove\b", "more than", "syntax"),
    (r"\bwhen\b", "WHEN", "syntax"),
    (r"(?<=when )followers\b", "folowers", "unknown-name"),
]
SPOTS = sorted(
    (match.start(), match.end(), match.expand(written), code)
    for pattern, written, code in MISTAKES
    for match in re.finditer(pattern, blank_texts(SYNTHESIS))
)


def inject(chosen: list[tuple[int, int, str, str]]) -> tuple[str, set[Report]]:
    """The clean file with these mistakes made, and the errors they must give."""
    pieces: list[str] = []
    expected: set[Report] = set()
    done = 0
    for start, end, written, code in chosen:
        pieces.append(SYNTHESIS[done:start])
        offset = sum(len(p) for p in pieces)
        pieces.append(written)
        done = end
        text = "".join(pieces)
        line = text.count("\n") + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        expected.add((line, col, code))
    pieces.append(SYNTHESIS[done:])
    return "".join(pieces), expected


def test_the_clean_file_has_every_kind_of_spot() -> None:
    assert reported(SYNTHESIS) == []
    assert {code for *_, code in SPOTS} == {code for *_, code in MISTAKES}
    assert len(SPOTS) > 30


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(range(len(SPOTS))), min_size=1, max_size=12, unique=True))
def test_every_injected_mistake_is_reported_where_it_was_made_and_nothing_else(
    indexes: list[int],
) -> None:
    chosen = [SPOTS[i] for i in sorted(indexes)]
    assume(all(a[1] <= b[0] for a, b in itertools.pairwise(chosen)))  # no shared characters
    text, expected = inject(chosen)
    assert sorted(reported(text)) == sorted(expected), text


def test_a_line_with_every_mistake_at_once() -> None:
    """The issue's line: `10.000` was reported only after `3,0 %` was fixed."""
    text = SYNTHESIS.replace(
        "tier micro when followers between 10000 and 100000 and engagement high",
        "TIER micro WHEN folowers between 10.000 and 100,000 and engagement_rate ≥ 3,0 %",
    )
    line = 22
    assert text.splitlines()[line - 1].startswith("TIER micro")
    assert reported(text) == [
        (line, 1, "syntax"),  # TIER
        (line, 12, "syntax"),  # WHEN
        (line, 17, "unknown-name"),  # folowers, on a line with 10.000
        (line, 34, "ambiguous-number"),  # 10.000
        (line, 45, "syntax"),  # 100,000
        (line, 73, "syntax"),  # ≥
        (line, 75, "syntax"),  # 3,0 %
    ]


def test_a_repaired_line_is_checked_with_spans_on_the_text_as_written() -> None:
    """After `≥` became `>=` (one character more) and `more than` became `above`, the
    checker still points at the misspelled names where the author wrote them."""
    text = SYNTHESIS.replace(
        "label suspicious     when fake_follower_ratio above 25%",
        "label suspicious     when fake_follower_ratio ≥ 25% and folowers more than 1k"
        " and platfrom is 'x'",
    )
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "suspicious" in s)
    written = text.splitlines()[line - 1]
    assert reported(text) == [
        (line, written.index("≥") + 1, "syntax"),
        (line, written.index("folowers") + 1, "unknown-name"),
        (line, written.index("more than") + 1, "syntax"),
        (line, written.index("platfrom") + 1, "unknown-name"),
        (line, written.index("'x'") + 1, "unexpected-character"),
    ]


@pytest.mark.parametrize(
    ("written", "hint", "spellings"),
    [
        ("3,0 %", "write 3% or 3.0%", ["3%", "3.0%"]),
        ("3,5 %", "write 3.5% with a point and no space", ["3.5%"]),
        ("3,5%", "write 3.5% with a point", ["3.5%"]),
        ("3 %", "write 3% without a space", ["3%"]),
        ("3.5 %", "write 3.5% without a space", ["3.5%"]),
    ],
)
def test_a_percent_hint_is_a_spelling_that_checks_clean(
    written: str, hint: str, spellings: list[str]
) -> None:
    """The hint's spelling works in one step: no second error after following it (the
    comma hint used to say `write 3.0 with a point`, then `write 3.0% without a space`)."""
    clean = "input engagement_rate: percent\ntier engaged when engagement_rate at least {}\n"
    error = _error(clean.format(written))
    assert [(d.code, d.hint) for d in error.diagnostics] == [("syntax", hint)]
    for spelling in spellings:
        check_source(Source(clean.format(spelling), "t.tiers"), analyse=False)


@pytest.mark.parametrize(
    ("written", "hint", "spellings"),
    [
        ("1,000", "write 1,000 as 1_000 or 1k", ["1_000", "1k"]),
        ("1,500", "write 1,500 as 1_500", ["1_500"]),
        ("2.500.000", "write 2.500.000 as 2_500_000 or 2.5M", ["2_500_000", "2.5M"]),
        ("2 million", "write 2M: M for a million (k is a thousand)", ["2M"]),
        ("10.000", "for 10,000, write 10_000 or 10k; for 10, write 10", ["10_000", "10k", "10"]),
    ],
)
def test_a_count_hint_is_a_spelling_that_checks_clean(
    written: str, hint: str, spellings: list[str]
) -> None:
    clean = "input followers: count\ntier big when followers at least {}\n"
    error = _error(clean.format(written))
    assert [d.hint for d in error.diagnostics] == [hint]
    for spelling in spellings:
        check_source(Source(clean.format(spelling), "t.tiers"), analyse=False)


def test_a_keyword_the_parser_reads_as_a_name_brings_no_second_error() -> None:
    """`TIER` inside a condition: lower-cased it is a name there, and the parser then
    stumbles on `at least`; that is the repair's doing, not the author's."""
    error = _error("input followers: count\ntier a when followers TIER at least 1k\n")
    assert [(d.span.col, d.code) for d in error.diagnostics] == [(23, "syntax")]


def test_an_error_only_the_author_can_fix_stops_the_reading_there() -> None:
    """`expect labels …` needs the tier the author expects: nothing is guessed, and no
    error after it is made up, but the mistakes before it are all reported."""
    text = (
        "input followers: count\ninput platform: text\ntier a when followers above 1k\n"
        "example \"x\"\n  given followers 10.000, platform 'x'\n  expect labels none\n"
    )
    assert reported(text) == [
        (5, 19, "ambiguous-number"),
        (5, 36, "unexpected-character"),
        (6, 10, "syntax"),
    ]


def test_every_problem_found_while_building_is_reported() -> None:
    text = "input followers: count\ntier a when followers between 10.000 and 1e999\n"
    text = text.replace("1e999", "9" * 400)
    assert [d.code for d in _error(text).diagnostics] == ["ambiguous-number", "number-too-large"]


def test_check_prints_every_error_of_every_line_with_caret_and_hint(tmp_path: Path) -> None:
    """Through the command line, as the analyst met it: one run, every error."""
    rules = tmp_path / "agency.tiers"
    rules.write_text(
        "ruleset agency\n"
        "input followers: count\n"
        "input engagement_rate: percent\n"
        "tier micro when engagement_rate at least 3,0 % and followers at least 10.000\n"
        "tier nano when folowers ≥ 1,000 and engagement_rate above 2 %\n"
        "otherwise none\n",
        encoding="utf-8",
    )
    result = tierline("check", str(rules))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "checked 1 file: 6 error(s), 0 warning(s)" in result.stderr
    line4 = " | tier micro when engagement_rate at least 3,0 % and followers at least 10.000"
    line5 = " | tier nano when folowers ≥ 1,000 and engagement_rate above 2 %"
    assert result.stdout.splitlines() == [
        f"ERROR: {rules}:4:42: 3,0 %: a comma is not a decimal point [syntax]",
        line4,
        " | " + "." * 41 + "^" * 5,
        " = write 3% or 3.0%",
        f"ERROR: {rules}:4:71: 10.000 reads as 10 here (a point starts decimals) "
        "[ambiguous-number]",
        line4,
        " | " + "." * 70 + "^" * 6,
        " = for 10,000, write 10_000 or 10k; for 10, write 10",
        f"ERROR: {rules}:5:16: unknown name 'folowers' [unknown-name]",
        line5,
        " | " + "." * 15 + "^" * 8,
        " = did you mean 'followers'?",
        f"ERROR: {rules}:5:25: '≥' is not an operator [syntax]",
        line5,
        " | " + "." * 24 + "^",
        " = write >= (or at least)",
        f"ERROR: {rules}:5:27: 1,000: a comma does not group digits here [syntax]",
        line5,
        " | " + "." * 26 + "^" * 5,
        " = write 1,000 as 1_000 or 1k",
        f"ERROR: {rules}:5:59: a percent sign belongs to its number [syntax]",
        line5,
        " | " + "." * 58 + "^" * 3,
        " = write 2% without a space",
    ]
    as_json = tierline("check", "--format", "json", str(rules))
    assert as_json.returncode == 1
    items = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(i["line"], i["column"], i["code"], i["hint"]) for i in items] == [
        (4, 42, "syntax", "write 3% or 3.0%"),
        (4, 71, "ambiguous-number", "for 10,000, write 10_000 or 10k; for 10, write 10"),
        (5, 16, "unknown-name", "did you mean 'followers'?"),
        (5, 25, "syntax", "write >= (or at least)"),
        (5, 27, "syntax", "write 1,000 as 1_000 or 1k"),
        (5, 59, "syntax", "write 2% without a space"),
    ]
    fixed = rules.read_text(encoding="utf-8")
    for written, hinted in [("3,0 %", "3%"), ("10.000", "10k"), ("folowers", "followers"),
                            ("≥", ">="), ("1,000", "1_000"), ("2 %", "2%")]:  # fmt: skip
        fixed = fixed.replace(written, hinted)
    rules.write_text(fixed, encoding="utf-8")
    again = tierline("check", str(rules))
    assert again.returncode == 0, again.stdout  # one round of fixes was all it took


def test_validate_rules_returns_every_error_of_a_line(tmp_path: Path) -> None:
    """The studio and editors ask the running service (ValidateRules): the same errors,
    all of them, in one answer."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    settings = Settings(
        rules=rules,
        port=0,
        decision_log=str(tmp_path / "decisions.log"),
        metrics_port=None,
        watch=False,
    )
    running = create_server(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            source = (
                "input followers: count\ninput engagement_rate: percent\n"
                "tier micro when engagement_rate at least 3,0 % and folowers at least 10.000\n"
            )
            found = stub.ValidateRules(
                pb.ValidateRulesRequest(source=source, file_name="x.tiers"), timeout=30
            )
    finally:
        running.stop(grace=1)
    assert not found.ok
    assert [(d.line, d.column, d.code, d.hint) for d in found.diagnostics] == [
        (3, 42, "syntax", "write 3% or 3.0%"),
        (3, 52, "unknown-name", "did you mean 'followers'?"),
        (3, 70, "ambiguous-number", "for 10,000, write 10_000 or 10k; for 10, write 10"),
    ]
    assert all(f"x.tiers:3:{col}:" in found.rendered for col in (42, 52, 70))


def _error(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        check_source(Source(text, "t.tiers"), analyse=False)
    return caught.value
