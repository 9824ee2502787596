"""Hypothesis strategies for well-typed rulesets (as text) and accounts that fit them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from engine import ClassifyError, Decision, Ruleset
from engine.language.source import Source
from engine.load import check_source

SCHEMA = """\
input followers: count
input posts: count
input engagement_rate: percent
input score: number
input platform: text
input topics: set of text
input verified: flag optional default false
let per_post = followers / posts
let reach = followers * engagement_rate
level engagement from engagement_rate
  high   at least 3.5%
  medium between 1% and 3.5%
  low    below 1%
"""
# Every construct of the language in one ruleset, for backends run on their own
# engines (Spark), where a hypothesis run per ruleset would cost a job each.
EVERY_CONSTRUCT = (
    "ruleset every\npolicy first\n"
    + SCHEMA
    + "tier huge when reach above 1M and per_post > 10\n"
    + "tier big when followers at least 100k or score < -1000\n"
    + 'tier picky when topics has all of {"tech", "food"} and platform not in {"tiktok"}\n'
    + 'tier loud when topics has "beauty" and engagement is not low and -score <= 3\n'
    + "tier steady when followers between 1k and 10k and (posts - 1) * 2 >= 10\n"
    + 'tier named when platform is not "youtube" and platform in {"instagram", "ünï"}\n'
    + "tier active when engagement high and not verified\n"
    + "otherwise small\n"
    + 'label chatty when per_post below 1 and topics has any of {"tech", "food"}\n'
    + "label checked when verified\n"
    + 'label tubers when platform == "youtube" or engagement medium\n'
)
COUNTS = ["0", "1", "999", "1k", "10_000", "10k", "100k", "1M"]
PERCENTS = ["0%", "1%", "3.49%", "3.5%", "50%", "100%"]
NUMBERS = ["-2.5", "0", "0.5", "3", "12.25", "1000"]
PLATFORMS = ["instagram", "tiktok", "youtube", 'we"ird\\', "ünï"]
TOPICS = ["fashion", "tech", "food", "beauty"]
OPS = ["at least", "at most", "above", "below", ">=", "<=", ">", "<", "==", "!="]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _set(items: list[str]) -> str:
    return "{" + ", ".join(_quoted(i) for i in items) + "}"


def numeric_tests() -> st.SearchStrategy[str]:
    pools = [
        ("followers", COUNTS),
        ("posts", COUNTS),
        ("engagement_rate", PERCENTS),
        ("score", NUMBERS),
        ("per_post", NUMBERS),
        ("reach", NUMBERS),
    ]

    def compare(pool: tuple[str, list[str]], op: str, lit: str) -> str:
        return f"{pool[0]} {op} {lit}"

    def between(pool: tuple[str, list[str]], a: int, b: int) -> str:
        lo, hi = sorted((a % len(pool[1]), b % len(pool[1])))
        return f"{pool[0]} between {pool[1][lo]} and {pool[1][hi]}"

    pool = st.sampled_from(pools)
    return st.one_of(
        st.builds(compare, pool, st.sampled_from(OPS), st.sampled_from(COUNTS)).filter(
            lambda s: not s.startswith("engagement_rate")
        ),
        pool.flatmap(
            lambda p: st.builds(
                lambda op, lit: f"{p[0]} {op} {lit}", st.sampled_from(OPS), st.sampled_from(p[1])
            )
        ),
        st.builds(between, pool, st.integers(0, 9), st.integers(0, 9)),
        st.builds(
            lambda a, b: f"(followers + posts) * {a} / {b} > score",
            st.sampled_from(["2", "0.5"]),
            st.sampled_from(["posts", "1", "score"]),
        ),
    )


def other_tests() -> st.SearchStrategy[str]:
    subset = st.lists(st.sampled_from(TOPICS), max_size=3, unique=True)
    platforms = st.lists(st.sampled_from(PLATFORMS), max_size=3, unique=True)
    return st.one_of(
        platforms.map(lambda p: f"platform in {_set(p)}"),
        platforms.map(lambda p: f"platform not in {_set(p)}"),
        st.sampled_from(PLATFORMS).map(lambda p: f"platform == {_quoted(p)}"),
        st.sampled_from(PLATFORMS).map(lambda p: f"platform is {_quoted(p)}"),
        subset.map(lambda t: f"topics has any of {_set(t)}"),
        subset.map(lambda t: f"topics has all of {_set(t)}"),
        st.sampled_from(TOPICS).map(lambda t: f"topics has {_quoted(t)}"),
        st.sampled_from(["high", "medium", "low"]).flatmap(
            lambda b: st.sampled_from(
                [f"engagement {b}", f"engagement is {b}", f"engagement is not {b}"]
            )
        ),
        st.sampled_from(["verified", "not verified", "verified == true", "verified != false"]),
    )


def conditions() -> st.SearchStrategy[str]:
    leaf = st.one_of(numeric_tests(), other_tests())
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a} and {b})", inner, inner),
            st.builds(lambda a, b: f"({a} or {b})", inner, inner),
            inner.map(lambda a: f"not ({a})"),
        ),
        max_leaves=5,
    )


@st.composite
def rulesets(draw: st.DrawFn) -> str:
    policy = draw(st.sampled_from(["first", "unique"]))
    tiers = draw(st.lists(conditions(), min_size=1, max_size=5))
    labels = draw(st.lists(conditions(), max_size=2))
    lines = [f"ruleset generated\npolicy {policy}\n", SCHEMA]
    lines += [f"tier t{i} when {c}\n" for i, c in enumerate(tiers)]
    if draw(st.booleans()):
        lines.append("otherwise fallback\n")
    lines += [f"label l{i} when {c}\n" for i, c in enumerate(labels)]
    return "".join(lines)


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
def banded_rulesets(draw: st.DrawFn, policies: tuple[str, ...] = ("first", "unique")) -> str:
    """Many tiers, mostly a platform and a band of followers each, as generated
    rulesets are, for the pair index and the range index."""
    policy = draw(st.sampled_from(policies))
    tiers = draw(st.lists(_tier(), min_size=9, max_size=40))
    lines = [f"ruleset generated\npolicy {policy}\n", SCHEMA]
    lines += [f"tier t{i} when {c}\n" for i, c in enumerate(tiers)]
    return "".join([*lines, "otherwise rest\n"])


def accounts() -> st.SearchStrategy[dict[str, Any]]:
    count = st.one_of(
        st.sampled_from([0, 1, 999, 1000, 10_000, 100_000, 1_000_000, 1_000_001]),
        st.integers(0, 2_000_000),
    )
    percent = st.one_of(
        st.sampled_from([0.0, 0.01, 0.0099, 0.035, 0.0349, 0.5, 1.0]),
        st.floats(0, 1, allow_nan=False),
    )
    number = st.one_of(
        st.sampled_from([-2.5, 0, 0.5, 3, 1000, 12.25]), st.floats(-1e6, 1e6, allow_nan=False)
    )
    return st.fixed_dictionaries(
        {
            "followers": count,
            "posts": st.sampled_from([0, 1, 10, 1000]),
            "engagement_rate": percent,
            "score": number,
            "platform": st.sampled_from(PLATFORMS),
            "topics": st.lists(st.sampled_from(TOPICS), max_size=4),
        },
        optional={"verified": st.booleans()},
    )


def generated_decision(text: str, account: dict[str, Any]) -> Decision | None:
    """The decision of a generated ruleset (unanalysed, so overlaps stay in) on an
    account, or None where it refuses the account (a conflict under `policy unique`)."""
    ruleset = Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))
    try:
        return ruleset.classify(account)
    except ClassifyError:
        return None
