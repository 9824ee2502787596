"""Issue 24, "Linear costs" and "Bounded diagnostics": the shapes that were quadratic
(`fmt` of many tiers, a level of many bands, a set of many texts, many overlapping tiers)
give the same answers as before, and a finding that repeats is listed a bounded number
of times with a summary, while its error still refuses the file. The times themselves
are measured by `benchmarks/hostile_costs.py`, not here."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import RuleConflict, RuleError, Ruleset, load_ruleset
from engine.analysis.analyze import _band_region, _covered, _NotBoxable
from engine.checker.bands import band_interval, check_bands
from engine.checker.intervals import INF, Interval, Union, covers
from engine.checker.model import Band, Level
from engine.checker.types import show_value
from engine.language import ast
from engine.language.diagnostics import MAX_MESSAGE, MAX_PER_CODE, Diagnostic, bounded
from engine.language.format import format_source
from engine.language.source import NO_SPAN, Source, Span
from engine.load import check_source
from tests.conftest import ROOT, tierline

HEAD = "ruleset hostile\npolicy {policy}\ninput followers: count\ninput platform: text\n"


def overlapping_tiers(n: int) -> str:
    """n tiers `tier tJ when followers at least J`: under policy unique every pair overlaps."""
    body = "".join(f"tier t{j} when followers at least {j}\n" for j in range(n))
    return HEAD.format(policy="unique") + body + "otherwise none\n"


def set_of_texts(n: int, policy: str = "first", otherwise: bool = True) -> str:
    items = ", ".join(f'"p{j}"' for j in range(n))
    tiers = f"tier a when platform in {{{items}}}\ntier b when followers at least 10\n"
    return HEAD.format(policy=policy) + tiers + ("otherwise none\n" if otherwise else "")


# ------------------------------------------------------------------ overlaps, bounded


def _json_findings(path: Path) -> tuple[int, list[dict[str, Any]], str]:
    done = tierline("check", str(path), "--format", "json")
    found = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, found, done.stderr


def test_two_thousand_overlapping_tiers_are_listed_bounded_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "overlap.tiers"
    path.write_text(overlapping_tiers(2_000), encoding="utf-8")
    code, found, _ = _json_findings(path)
    assert code == 1
    listed = [d for d in found if "omitted" not in d]
    [summary] = [d for d in found if "omitted" in d]
    # t1 … t1999 each overlap t0 (and every tier above them): one finding a tier
    assert len(listed) == MAX_PER_CODE
    assert summary["omitted"] == 1_999 - MAX_PER_CODE
    assert all(d["code"] == "overlapping-tiers" and d["severity"] == "error" for d in found)
    assert (
        f"and {1_999 - MAX_PER_CODE:,} more tiers that overlap a tier above them"
        in (summary["message"])
    )
    assert summary["line"] == listed[-1]["line"] + 1  # at the first tier not listed
    ruleset = Ruleset(check_source(Source(path.read_text(), "o.tiers"), analyse=False))
    for finding in listed:  # each listed one has a witness that shows it
        assert "for example followers" in finding["message"]
        with pytest.raises(RuleConflict):
            ruleset.classify(finding["witness"])
    text = tierline("check", str(path))
    assert text.returncode == 1
    assert len(text.stdout) < 10_000, len(text.stdout)
    assert "1999 error(s)" in text.stderr
    with pytest.raises(RuleError) as refused:
        load_ruleset(text=path.read_text(), name="overlap")
    assert len(refused.value.diagnostics) == MAX_PER_CODE + 1
    assert sum(d.omitted or 1 for d in refused.value.errors) == 1_999
    assert len(str(refused.value)) < 10_000


def test_listed_overlaps_have_witnesses_after_many_other_findings(tmp_path: Path) -> None:
    """Witnesses are asked for the overlaps that will be listed, counted apart from the
    other findings before them (here, tiers no count can satisfy)."""
    lines = ["ruleset w", "policy unique", "input followers: count"]
    lines += [f"tier dead{j} when followers below 0" for j in range(MAX_PER_CODE + 5)]
    lines += [f"tier t{j} when followers at least {j}" for j in range(5)]
    path = tmp_path / "w.tiers"
    path.write_text("\n".join([*lines, "otherwise none"]) + "\n", encoding="utf-8")
    code, found, _ = _json_findings(path)
    assert code == 1
    overlaps = [d for d in found if d["code"] == "overlapping-tiers"]
    assert len(overlaps) == 4 and all("witness" in d for d in overlaps)
    dead = [d for d in found if d["code"] == "unreachable-rule"]
    assert len(dead) == MAX_PER_CODE + 1 and dead[-1]["omitted"] == 5


def test_a_tier_is_reported_once_with_the_first_tier_it_overlaps() -> None:
    text = (
        "ruleset r\npolicy unique\ninput followers: count\n"
        "tier a when followers at least 10\n"
        "tier b when followers at least 20\n"
        "tier c when followers at least 30\n"
        "otherwise none\n"
    )
    with pytest.raises(RuleError) as refused:
        check_source(Source(text, "r.tiers"))
    messages = [d.message for d in refused.value.diagnostics]
    assert len(messages) == 2
    assert messages[0].startswith("tiers 'a' (line 4) and 'b' both match")
    assert messages[1].startswith("tiers 'a' (line 4) and 'c' both match")


def test_overlaps_the_solver_finds_are_bounded_too(tmp_path: Path) -> None:
    """Tiers of sets (which only the solver reads) overlapping each other: the first ones
    carry a witness, the rest are a count, and the file is refused."""
    lines = ["ruleset s", "policy unique", "input topics: set of text"]
    lines += [f'tier t{j} when topics has any of {{"a", "x{j}"}}' for j in range(MAX_PER_CODE + 6)]
    path = tmp_path / "sets.tiers"
    path.write_text("\n".join([*lines, "otherwise none"]) + "\n", encoding="utf-8")
    code, found, _ = _json_findings(path)
    assert code == 1
    listed = [d for d in found if "omitted" not in d]
    assert len(listed) == MAX_PER_CODE
    assert all("witness" in d for d in listed)
    assert [d["omitted"] for d in found if "omitted" in d] == [5]


def test_a_long_text_in_a_finding_is_cut(tmp_path: Path) -> None:
    long = "x" * 50_000
    path = tmp_path / "long.tiers"
    path.write_text(
        "ruleset l\npolicy unique\ninput platform: text\n"
        f'tier a when platform == "{long}"\ntier b when platform in {{"{long}", "y"}}\n'
        "otherwise none\n",
        encoding="utf-8",
    )
    code, [finding], _ = _json_findings(path)
    assert code == 1 and finding["code"] == "overlapping-tiers"
    assert len(finding["message"]) < MAX_MESSAGE + 100
    assert "characters cut" in finding["message"]
    assert finding["witness"] == {"platform": long}  # the witness itself stays exact


def _diag(code: str, start: int, severity: str = "error") -> Diagnostic:
    from engine.language.diagnostics import Severity

    return Diagnostic(code, f"{code} at {start}", Span(start, start + 1, 1, start + 1),
                      severity=Severity(severity))  # fmt: skip


def test_bounding_twice_changes_nothing_and_summaries_add_up() -> None:
    many = [_diag("overlapping-tiers", i) for i in range(50)] + [_diag("other", 3)]
    once = bounded(many, per_code=5)
    assert [d.omitted for d in once if d.code == "overlapping-tiers"] == [0] * 5 + [45]
    assert bounded(once, per_code=5) == once
    assert [(d.code, d.span.start) for d in once][:3] == [
        ("overlapping-tiers", 0),
        ("overlapping-tiers", 1),
        ("overlapping-tiers", 2),
    ]
    joined = bounded([*once, *[_diag("overlapping-tiers", 100 + i) for i in range(3)]], 5)
    [summary] = [d for d in joined if d.omitted]
    assert summary.omitted == 48 and summary.span.start == 5


# ------------------------------------------------------------------ bands


def _reference_bands(level: Level, type_: ast.TypeName, domain: Interval) -> list[tuple[str, str]]:
    """The band check as it was before it was made n log n: each band against every
    band above it. The new one must report exactly the same."""
    out: list[tuple[str, str]] = []
    earlier: list[tuple[str, Interval]] = []
    for index, band in enumerate(level.bands):
        interval = band_interval(band.op, band.low, band.high)
        if interval is None:
            continue
        if band.op == "" and index != len(level.bands) - 1:
            out.append(("otherwise-not-last", band.name))
        if band.op == "between" and interval.empty:
            out.append(("empty-range", band.name))
        elif covers([i for _, i in earlier], interval.intersect(domain)):
            out.append(("unreachable-band", band.name))
        else:
            for other_name, other in earlier:
                both = other.intersect(interval)
                if band.op == "between" and not both.empty and other.hi != INF:
                    lo, hi = show_value(both.lo, type_), show_value(both.hi, type_)
                    out.append(("overlapping-bands", f"{other_name} {band.name} {lo} {hi}"))
                    break
        earlier.append((band.name, interval))
    return out


_VALUES = st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 5.0, 10.0, -1.0])
_BANDS = st.one_of(
    st.tuples(st.sampled_from([">=", ">", "<=", "<", "==", "!="]), _VALUES, st.none()),
    st.tuples(st.just("between"), _VALUES, _VALUES),
    st.tuples(st.just(""), st.none(), st.none()),
)


@settings(max_examples=400, deadline=None)
@given(
    bounds=st.lists(_BANDS, min_size=1, max_size=9),
    domain=st.sampled_from(
        [Interval(0, INF, True, False), Interval(-INF, INF, False, False), Interval(0, 5)]
    ),
)
def test_bands_report_what_comparing_every_pair_did(
    bounds: list[tuple[str, float | None, float | None]], domain: Interval
) -> None:
    bands = tuple(
        Band(f"b{i}", op, low, high, "", NO_SPAN) for i, (op, low, high) in enumerate(bounds)
    )
    level = Level("size", "followers", bands, NO_SPAN)
    got: list[tuple[str, str]] = []

    def report(diagnostic: Diagnostic) -> None:
        code, message = diagnostic.code, diagnostic.message
        if code == "overlapping-bands":
            words = message.split("'")
            low_high = message.split(" from ")[1].split(" to ")
            got.append((code, f"{words[1]} {words[3]} {low_high[0]} {low_high[1]}"))
        elif code != "level-gap":
            got.append((code, message.split("'")[1]))

    check_bands(level, ast.TypeName.NUMBER, domain, report)
    assert got == _reference_bands(level, ast.TypeName.NUMBER, domain)


@settings(max_examples=300, deadline=None)
@given(bounds=st.lists(_BANDS, min_size=1, max_size=9), negated=st.booleans())
def test_a_bands_region_is_the_values_it_is_the_first_band_for(
    bounds: list[tuple[str, float | None, float | None]], negated: bool
) -> None:
    """What the analysis reads `size is bJ` as (one pass over the level, kept): exactly
    the values for which bJ is the first band whose range holds them."""
    bands = tuple(
        Band(f"b{i}", op, low, high, "", NO_SPAN) for i, (op, low, high) in enumerate(bounds)
    )
    level = Level("size", "followers", bands, NO_SPAN)
    intervals = [band_interval(b.op, b.low, b.high) for b in bands]
    ends = sorted({x for _, a, b in bounds for x in (a, b) if x is not None} | {0.0})
    points = [*ends, *(a + (b - a) / 2 for a, b in itertools.pairwise(ends))]
    points += [ends[0] - 1, ends[-1] + 1]
    for index, band in enumerate(bands):
        if any(i is None for i in intervals[: index + 1]):
            with pytest.raises(_NotBoxable):
                _band_region(level, band.name, negated)
            continue
        region = _band_region(level, band.name, negated)
        for x in points:
            first = next((i for i, iv in enumerate(intervals) if iv and iv.contains(x)), None)
            assert any(r.contains(x) for r in region) == ((first == index) != negated), (x, region)


_INTERVALS = st.builds(
    lambda a, b, lc, hc: Interval(min(a, b), max(a, b), lc, hc),
    st.sampled_from([-INF, 0.0, 1.0, 2.0, 3.0]),
    st.sampled_from([0.0, 1.0, 2.0, 3.0, INF]),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_INTERVALS, max_size=8), probe=_INTERVALS)
def test_a_union_holds_the_values_of_its_parts(parts: list[Interval], probe: Interval) -> None:
    union = Union()
    for part in parts:
        union.add(part)
    pieces = union.pieces
    assert all(not p.empty for p in pieces)
    for a, b in itertools.pairwise(pieces):  # sorted and disjoint
        assert a.intersect(b).empty and (a.lo, not a.lo_closed) < (b.lo, not b.lo_closed)
    outside = union.minus(probe)
    for x in [-5.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]:
        inside = any(p.contains(x) for p in parts)
        assert any(p.contains(x) for p in pieces) == inside
        assert any(p.contains(x) for p in outside) == (probe.contains(x) and not inside)


@settings(max_examples=500, deadline=None)
@given(part=_INTERVALS, outer=_INTERVALS)
def test_one_range_covers_as_the_general_cover_says(part: Interval, outer: Interval) -> None:
    """The analysis's shortcut for one range (policy first: is a tier inside one above)."""
    assert _covered(part, (outer,)) == covers([outer], part)


def test_a_tier_for_each_of_two_thousand_bands_is_checked(tmp_path: Path) -> None:
    bands = "".join(f"  b{j} at least {(2_000 - j) * 10}\n" for j in range(2_000))
    tiers = "".join(f"tier t{j} when size b{j}\n" for j in range(2_000))
    path = tmp_path / "band_tiers.tiers"
    path.write_text(
        "ruleset b\npolicy unique\ninput followers: count\nlevel size from followers\n"
        f"{bands}  tiny otherwise\n{tiers}tier t0_again when size b0\notherwise none\n",
        encoding="utf-8",
    )
    done = tierline("check", str(path))
    assert done.returncode == 1
    assert "tiers 't0' (line 2006) and 't0_again' both match" in done.stdout
    assert "1 error(s), 0 warning(s)" in done.stderr


def test_a_level_of_five_thousand_bands_is_checked(tmp_path: Path) -> None:
    bands = "".join(f"  b{j} at least {(5_000 - j) * 10}\n" for j in range(5_000))
    path = tmp_path / "bands.tiers"
    path.write_text(
        "ruleset b\ninput followers: count\nlevel size from followers\n"
        f"{bands}  late between 20 and 30\n  tiny otherwise\n"
        "tier big when size b0\notherwise none\n",
        encoding="utf-8",
    )
    done = tierline("check", str(path))
    assert done.returncode == 1
    assert "band 'late' can never be chosen" in done.stdout
    assert "1 error(s), 0 warning(s)" in done.stderr


# ------------------------------------------------------------------ sets of texts


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_a_set_of_many_texts_is_read_by_the_solver(tmp_path: Path) -> None:
    """Without `otherwise`, the solver looks for an account no tier takes; under policy
    unique, for two tiers that share one: both over a set of 100,000 texts."""
    path = tmp_path / "texts.tiers"
    path.write_text(set_of_texts(100_000, otherwise=False), encoding="utf-8")
    code, [finding], _ = _json_findings(path)
    assert code == 0 and finding["code"] == "uncovered"
    assert finding["witness"]["platform"] not in {f"p{j}" for j in range(100_000)}
    assert finding["witness"]["followers"] < 10
    path.write_text(set_of_texts(100_000, "unique"), encoding="utf-8")
    code, [finding], _ = _json_findings(path)
    assert code == 1 and finding["code"] == "overlapping-tiers"
    assert finding["witness"]["platform"] in {f"p{j}" for j in range(100_000)}
    assert finding["witness"]["followers"] >= 10


def test_sets_whose_texts_are_not_neighbours_are_read_exactly() -> None:
    """Each text input's texts are numbered as the rules name them; a set whose texts are
    not numbered one after another is several ranges, and none is left out."""
    text = (
        "ruleset s\npolicy unique\ninput platform: text\n"
        'tier a when platform in {"a", "c"}\n'
        'tier b when platform in {"b"}\n'
        'tier c when platform in {"a", "b"} and not platform in {"a"}\n'
        "otherwise none\n"
    )
    with pytest.raises(RuleError) as refused:
        check_source(Source(text, "s.tiers"))
    [finding] = refused.value.diagnostics
    assert finding.message.startswith("tiers 'b' (line 5) and 'c' both match")
    assert finding.witness == {"platform": "b"}


# ------------------------------------------------------------------ fmt


def test_fmt_aligns_each_run_of_tiers_on_its_own(tmp_path: Path) -> None:
    text = (
        "ruleset r\ninput followers: count\n\n"
        "tier a when followers at least 100\n"
        "# a comment keeps the run together\n"
        "tier longer_name when followers at least 10\n"
        "\n"
        "tier bb when followers at least 5\n"
        "tier c when followers at least 1\n"
        "label lab when followers at least 7  # trailing\n"
        "label l when followers at least 8\n"
        "otherwise none\n"
    )
    path = tmp_path / "runs.tiers"
    path.write_text(text, encoding="utf-8")
    done = tierline("fmt", str(path))
    assert done.returncode == 0, done.stderr
    assert path.read_text(encoding="utf-8") == (
        "ruleset r\ninput followers: count\n\n"
        "tier a           when followers at least 100\n"
        "# a comment keeps the run together\n"
        "tier longer_name when followers at least 10\n"
        "\n"
        "tier bb when followers at least 5\n"
        "tier c  when followers at least 1\n"
        "label lab when followers at least 7  # trailing\n"
        "label l   when followers at least 8\n"
        "otherwise none\n"
    )
    assert tierline("fmt", "--check", str(path)).returncode == 0


SHIPPED = sorted([*(ROOT / "rules").glob("*.tiers"), *(ROOT / "definitions").rglob("*.tiers")])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_files_are_left_as_they_are(path: Path) -> None:
    source = Source(path.read_text(encoding="utf-8"), str(path))
    assert format_source(source) == source.text
