"""Rendered diagnostics compared byte for byte: tests/golden/NAME.tiers → NAME.txt.

Set TIERLINE_UPDATE_GOLDEN=1 to rewrite the .txt files after a deliberate change,
then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.language.diagnostics import RuleError
from engine.load import check_source, read_source

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.tiers"))


def rendered(path: Path) -> str:
    source = read_source(path)
    source = type(source)(source.text, f"{path.stem}.tiers")
    try:
        checked = check_source(source)
    except RuleError as error:
        return str(error) + "\n"
    return RuleError(source, list(checked.warnings)).args[0] + "\n"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_diagnostics_match_golden_file(case: Path) -> None:
    expected_file = case.with_suffix(".txt")
    got = rendered(case)
    if os.environ.get("TIERLINE_UPDATE_GOLDEN"):
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")


def test_golden_cases_cover_at_least_twenty_distinct_errors() -> None:
    codes = set()
    for case in CASES:
        for line in case.with_suffix(".txt").read_text(encoding="utf-8").splitlines():
            if line.startswith(("ERROR:", "WARNING:")):
                codes.add(line[line.rindex("[") :])
    assert len(codes) >= 20, codes


def test_every_golden_case_reports_something() -> None:
    for case in CASES:
        text = case.with_suffix(".txt").read_text(encoding="utf-8")
        assert text.startswith(("ERROR:", "WARNING:")), case.name
        assert " | " in text and "^" in text, case.name
