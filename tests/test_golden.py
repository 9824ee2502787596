"""Rendered diagnostics compared byte for byte: tests/golden/NAME.tiers → NAME.txt.

Set TIERLINE_UPDATE_GOLDEN=1 to rewrite the .txt files after a deliberate change,
then read the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.language.codes import CATALOGUE, fields
from engine.language.diagnostics import RuleError, render_all
from engine.language.source import Source
from engine.load import MAX_SOURCE_BYTES, check_source, decode, read_source

GOLDEN = Path(__file__).parent / "golden"
# Cases whose file cannot sit in the repository, as NAME -> the bytes of NAME.tiers
# (only NAME.txt is kept): they go through the same decoding as a file read.
GENERATED: dict[str, Callable[[], bytes]] = {
    "file_too_large": lambda: b"# a comment line\n" * (MAX_SOURCE_BYTES // 17 + 1),
}
CASES = sorted([*GOLDEN.glob("*.tiers"), *(GOLDEN / f"{name}.tiers" for name in GENERATED)])


def rendered(path: Path) -> str:
    name = f"{path.stem}.tiers"
    try:
        if path.stem in GENERATED:
            source = decode(GENERATED[path.stem](), name)
        else:
            source = Source(read_source(path).text, name)
    except RuleError as error:  # refused unread (too large, not UTF-8): shown under NAME
        return render_all(Source(error.source.text, name), error.diagnostics) + "\n"
    try:
        checked = check_source(source)
    except RuleError as error:
        return str(error) + "\n"
    return RuleError(source, list(checked.warnings)).args[0] + "\n"


def golden_codes() -> dict[str, set[str]]:
    """Each code the golden files show, with the cases that show it."""
    found: dict[str, set[str]] = {}
    for case in CASES:
        text = case.with_suffix(".txt").read_text(encoding="utf-8")
        for code in re.findall(r"^(?:ERROR|WARNING): .* \[([a-z0-9-]+)\]$", text, re.MULTILINE):
            found.setdefault(code, set()).add(case.stem)
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_diagnostics_match_golden_file(case: Path) -> None:
    expected_file = case.with_suffix(".txt")
    got = rendered(case)
    if os.environ.get("TIERLINE_UPDATE_GOLDEN"):
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")


def test_every_code_of_the_catalogue_has_a_golden_case() -> None:
    """The catalogue (engine/language/codes.py) lists every code a rule file can be
    told; each is shown, rendered in full, by at least one golden case, and the golden
    files show no code the catalogue does not list."""
    shown = golden_codes()
    assert len(CATALOGUE) >= 40, sorted(CATALOGUE)
    assert sorted(set(CATALOGUE) - set(shown)) == []
    assert sorted(set(shown) - set(CATALOGUE)) == []


def test_every_golden_case_reports_something() -> None:
    for case in CASES:
        text = case.with_suffix(".txt").read_text(encoding="utf-8")
        assert text.startswith(("ERROR:", "WARNING:")), case.name
        assert " | " in text and "^" in text, case.name


def test_diagnostics_are_made_from_the_catalogue_only() -> None:
    """No code outside engine/language/codes.py makes a Diagnostic from its own words:
    a code written as a literal where the diagnostic is made would escape the catalogue
    (and the test above)."""
    root = Path(__file__).parent.parent
    made_here = re.compile(r"(?<![.\w])Diagnostic\(\s*(?:f?[\"']|code\b)")
    offenders = [
        f"{path.relative_to(root)}:{text[: m.start()].count(chr(10)) + 1}"
        for package in ("engine", "server", "tierline")
        for path in sorted((root / package).rglob("*.py"))
        if path.name != "codes.py"
        for text in [path.read_text(encoding="utf-8")]
        for m in made_here.finditer(text)
    ]
    assert offenders == []


def test_every_template_of_the_catalogue_formats() -> None:
    """Each message and hint template is valid `str.format` text with named fields
    only (a stray `{…}` in a hint would raise only when that hint is given)."""
    for code in CATALOGUE.values():
        assert code.messages, code.name
        for template in [*code.messages.values(), *code.hints.values()]:
            names = fields(template)
            assert all(n.isidentifier() for n in names), (code.name, template)
            filled = template.format(**dict.fromkeys(names, 0))
            assert "{" not in filled.replace("{…}", "").replace('{"', ""), (code.name, filled)
