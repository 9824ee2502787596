"""The analysis compares only the rules its pair index groups together
(engine/analysis/pairs.py); it must report exactly what comparing every pair
reports, in the same order, and it must stay fast at 10,000 tiers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from engine.analysis import analyze as analysis
from engine.analysis.pairs import PairIndex, Reach
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source
from engine.load import check_source
from tests.typed_rules import banded_rulesets


def _every_pair(reaches: list[Reach | None]) -> PairIndex:
    everyone = [i for i, reach in enumerate(reaches) if reach is not None]
    return PairIndex([everyone], {i: [0] for i in everyone})


def _findings(text: str, *, all_pairs: bool) -> list[tuple[str, str, int, int]]:
    checked = check_source(Source(text, "generated.tiers"), analyse=False)
    index = analysis.pair_index
    if all_pairs:
        analysis.pair_index = _every_pair  # type: ignore[assignment]
    try:
        found: list[Diagnostic] = analysis.analyze(checked)
    finally:
        analysis.pair_index = index
    return [(d.code, d.message, d.span.start, d.span.end) for d in found]


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=banded_rulesets())
def test_the_pair_index_finds_what_every_pair_finds(text: str) -> None:
    assert _findings(text, all_pairs=False) == _findings(text, all_pairs=True)


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_bands_per_platform_split_into_small_groups() -> None:
    """10,000 tiers, a band of followers per platform: each rule is compared with
    the few that share its platform and band, not with all the others."""
    lines = ["ruleset scale", "policy unique", "input followers: count", "input platform: text"]
    for i in range(10_000):
        low = (i // 7) * 1000
        lines.append(
            f'tier t{i} when followers between {low} and {low + 999} and platform == "p{i % 7}"'
        )
    checked = check_source(Source("\n".join([*lines, ""]), "scale.tiers"), analyse=False)
    rules = [r for r in checked.tiers if r.when is not None]
    boxes = [analysis._boxes(rule, checked) for rule in rules]
    reaches = [analysis._reach(b) if b else None for b in boxes]
    index = analysis.pair_index(reaches)
    assert max(len(group) for group in index.groups) <= 8
    assert analysis.analyze(checked) == []
