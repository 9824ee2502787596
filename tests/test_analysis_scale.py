"""The analysis compares only the rules its pair index groups together
(engine/analysis/pairs.py); it must report exactly what comparing every pair
reports, in the same order, and it must stay fast at 10,000 tiers."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.analysis import analyze as analysis
from engine.analysis.pairs import PairIndex, Reach
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source
from engine.load import check_source
from tests.typed_rules import COUNTS, PERCENTS, PLATFORMS, SCHEMA, _quoted, _set


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


def _boxable_leaf() -> st.SearchStrategy[str]:
    ops = st.sampled_from(["at least", "at most", "above", "below", "==", "!="])
    count = st.sampled_from(COUNTS)
    platforms = st.lists(st.sampled_from(PLATFORMS), min_size=1, max_size=3, unique=True)
    return st.one_of(
        st.builds(lambda op, n: f"followers {op} {n}", ops, count),
        st.builds(
            lambda a, b: f"followers between {min(a, b) * 1000} and {max(a, b) * 1000}",
            st.integers(0, 60),
            st.integers(0, 60),
        ),
        st.builds(lambda op, n: f"posts {op} {n}", ops, count),
        st.builds(lambda op, p: f"engagement_rate {op} {p}", ops, st.sampled_from(PERCENTS)),
        st.sampled_from(PLATFORMS).map(lambda p: f"platform == {_quoted(p)}"),
        st.sampled_from(PLATFORMS).map(lambda p: f"platform is not {_quoted(p)}"),
        platforms.map(lambda p: f"platform in {_set(p)}"),
        platforms.map(lambda p: f"platform not in {_set(p)}"),
        st.sampled_from(["engagement high", "engagement is not low", "engagement medium"]),
        st.sampled_from(["verified", "not verified"]),
    )


def _boxable_condition() -> st.SearchStrategy[str]:
    return st.recursive(
        _boxable_leaf(),
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a} and {b})", inner, inner),
            st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        ),
        max_leaves=4,
    )


@st.composite
def _tier(draw: st.DrawFn) -> str:
    """Mostly as generated rulesets are (a platform, a band of followers), so
    that the index splits; sometimes anything, so that it must not split wrongly."""
    parts = []
    if draw(st.integers(0, 4)):
        parts.append(draw(st.sampled_from(PLATFORMS).map(lambda p: f"platform == {_quoted(p)}")))
    if draw(st.integers(0, 4)):
        low = draw(st.integers(0, 12))
        high = low + draw(st.integers(0, 2))
        parts.append(
            f"followers between {low * 1000} and {high * 1000 + draw(st.sampled_from([0, 999]))}"
        )
    if not parts or not draw(st.integers(0, 2)):
        parts.append(draw(_boxable_condition()))
    return " and ".join(parts)


@st.composite
def _many_tiers(draw: st.DrawFn) -> str:
    policy = draw(st.sampled_from(["first", "unique"]))
    tiers = draw(st.lists(_tier(), min_size=9, max_size=40))
    lines = [f"ruleset generated\npolicy {policy}\n", SCHEMA]
    lines += [f"tier t{i} when {c}\n" for i, c in enumerate(tiers)]
    return "".join([*lines, "otherwise rest\n"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_many_tiers())
def test_the_pair_index_finds_what_every_pair_finds(text: str) -> None:
    assert _findings(text, all_pairs=False) == _findings(text, all_pairs=True)


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
