"""Accounts as Python programs hold them: enum members, subclasses of int, float and str
(numpy's float64 and str_ are such subclasses), values of every other type, nesting of
any depth, and accounts that are not mappings at all. `classify` answers each with a
decision or a ClassifyError, nothing else, and a value of a subclass gets the decision
of the plain value it holds.

numpy's scalars of every kind the rules read (int8 to uint64, bool_, float16 to float64,
str_) and one-dimensional arrays of texts are twins too: a DataFrame row holds them."""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import fractions
import json
import types
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ClassifyError, Decision, InputError, Ruleset
from engine.language.source import Source
from engine.load import check_source
from tests.test_log_writer import assert_same_as_to_dict
from tests.typed_rules import EVERY_CONSTRUCT
from tests.typed_rules import accounts as typed_accounts

SYNTHESIS_TEXT = (Path(__file__).parent.parent / "rules" / "synthesis.tiers").read_text()
EVERY = Ruleset(check_source(Source(EVERY_CONSTRUCT, "every.tiers"), analyse=False))


class LyingStr(str):
    """A str subclass whose `__str__` lies: the text it holds is what counts (it compares
    and hashes as that text, as StrEnum members and numpy's str_ do)."""

    def __str__(self) -> str:
        return "lie"

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


class LyingInt(int):
    def __int__(self) -> int:
        return 7

    def __index__(self) -> int:
        return 7


class LyingFloat(float):
    def __float__(self) -> float:
        return 7.0


class RecordLike:
    """An object indexed by position that raises IndexError for a name, as a numpy array
    or scalar does (`np.float64(1)["followers"]`)."""

    def __getitem__(self, index: object) -> object:
        raise IndexError("only integers, slices are valid indices")

    def __len__(self) -> int:
        return 0


def twins(value: Any) -> list[Any]:
    """`value` as other types that hold the same plain value."""
    kind = type(value)
    if kind is bool:
        return [np.bool_(value)]  # bool has no subclasses; numpy's is no subclass of it
    if kind is int:
        member = enum.IntEnum("Count", {"V": value})["V"]
        flag = enum.IntFlag("Bits", {"V": value})["V"] if value else value
        return [member, LyingInt(value), flag, *_numpy_ints(value)]
    if kind is float:
        return [LyingFloat(value), type("Float64", (float,), {})(value), np.float64(value)]
    if kind is str:
        return [enum.StrEnum("Text", {"V": value})["V"], LyingStr(value), np.str_(value)]
    if kind is list:
        return [
            tuple(value),
            set(value),
            frozenset(value),
            [enum.StrEnum("Topic", {"V": v})["V"] for v in value],
            tuple(LyingStr(v) for v in value),
            [np.str_(v) for v in value],
            np.array(value, dtype=object),
            *([np.array(value)] if value else []),
        ]
    return []


def _numpy_ints(value: int) -> list[Any]:
    """`value` as each numpy integer type that holds it exactly."""
    types_ = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
    return [t(value) for t in types_ if np.iinfo(t).min <= value <= np.iinfo(t).max]


def same(a: Decision, b: Decision) -> None:
    """The same decision in every view that does not hold the time or the id."""
    assert (a.tier, a.labels, a.rule) == (b.tier, b.labels, b.rule)
    one, two = a.to_dict(), b.to_dict()
    for volatile in ("decision_id", "ts"):
        one.pop(volatile), two.pop(volatile)
    assert json.dumps(one) == json.dumps(two)
    assert one == two
    assert a.explain() == b.explain()
    assert_same_as_to_dict(a)  # the decision log's line says what to_dict says


@settings(max_examples=150, deadline=None)
@given(account=typed_accounts(), data=st.data())
def test_subclass_values_decide_as_their_plain_values(account: dict[str, Any], data: Any) -> None:
    field = data.draw(st.sampled_from(sorted(account)))
    plain = EVERY.classify(account)
    for twin in twins(account[field]):
        decision = EVERY.classify({**account, field: twin})
        same(decision, plain)
        for value in decision.input.values():  # what the rules saw is plain
            assert type(value) in (int, float, str, bool, list)
            assert all(type(item) is str for item in value) if type(value) is list else True
        assert EVERY.classify_many([{**account, field: twin}])[0].tier == plain.tier


def test_enum_and_subclass_values_from_the_issue() -> None:
    """The issue's call, with the subclasses that stand for numpy's scalars."""

    class Platform(enum.StrEnum):
        INSTAGRAM = "instagram"

    class Band(enum.IntEnum):
        MID = 45_000

    float64 = type("float64", (float,), {})  # numpy's float64 subclasses float
    str_ = type("str_", (str,), {})  # and numpy's str_ subclasses str
    account = {
        "followers": Band.MID,
        "posts": LyingInt(10),
        "engagement_rate": float64(0.05),
        "score": float64(1.5),
        "platform": Platform.INSTAGRAM,
        "topics": (str_("tech"), Platform.INSTAGRAM),
    }
    decision = EVERY.classify(account)
    assert decision.input["engagement_rate"] == 0.05
    assert type(decision.input["engagement_rate"]) is float
    assert decision.input["platform"] == "instagram"
    assert type(decision.input["platform"]) is str
    assert decision.input["topics"] == ["instagram", "tech"]
    assert decision.input["posts"] == 10
    same(decision, EVERY.classify({**account, "followers": 45_000, "posts": 10}))
    assert '"instagram"' in decision.explain()


# ------------------------------------------------------------ any value, any account


class Color(enum.Enum):
    RED = "red"


class Perm(enum.Flag):
    R = 4


def nested(leaf: Any, depth: int, kind: type = list) -> Any:
    """`leaf` inside `depth` lists (tuples, sets, objects)."""
    if kind is frozenset:
        try:
            hash(leaf)
        except TypeError:  # a set holds only what hashes
            kind = tuple
    value = leaf
    for _ in range(depth):
        value = kind([value]) if kind is not dict else {"k": value}
    return value


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -1, 10**400, 0]),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["instagram", "tech", "fashion", "high"]),
    st.binary(max_size=4),
    st.binary(max_size=4).map(bytearray),
    st.complex_numbers(),
    st.decimals(),
    st.fractions(),
    st.datetimes(),
    st.dates(),
    st.timedeltas(),
    st.uuids(),
    st.sampled_from(
        [
            object(),
            Ellipsis,
            NotImplemented,
            range(3),
            Color.RED,
            Perm.R,
            type,
            len,
            RecordLike(),
            decimal.Decimal("NaN"),
            fractions.Fraction(1, 3),
            datetime.time(1, 2),
            uuid.UUID(int=0),
        ]
    ),
    st.integers(0, 2**63 - 1).map(lambda v: enum.IntEnum("E", {"V": v})["V"]),
    st.text(max_size=6).map(lambda v: enum.StrEnum("S", {"V": v})["V"]),
    st.integers().map(LyingInt),
    st.floats().map(LyingFloat),
    st.text(max_size=6).map(LyingStr),
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(st.text(max_size=4) | st.integers(), max_size=3),
        st.sets(st.text(max_size=4), max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=6,
) | st.builds(
    nested,
    SCALARS,
    st.integers(0, 5_000),
    st.sampled_from([list, tuple, dict, frozenset]),
)
KEYS = st.one_of(
    st.sampled_from([*EVERY.inputs, "extra", "followers_count"]),
    st.text(max_size=4),
    st.integers(),
    st.builds(nested, st.integers(), st.integers(0, 3_000), st.just(tuple)),
)


@st.composite
def any_account(draw: st.DrawFn) -> Any:
    values = draw(st.dictionaries(KEYS, ANY_VALUE, max_size=8))
    whole = draw(st.integers(0, 9))
    if whole == 0:
        return draw(ANY_VALUE)  # not a mapping: a list, a number, a text, …
    if whole == 1:
        return types.MappingProxyType(values)
    if whole == 2:
        return collections.OrderedDict(values)
    if whole <= 5:  # mostly well-typed, with one field of any type
        account: dict[Any, Any] = draw(typed_accounts())
        account[draw(KEYS)] = draw(ANY_VALUE)
        return account
    return values


def answered_or_refused(ruleset: Ruleset, account: Any, strict: bool = False) -> None:
    try:
        decision = (ruleset.classify_strict if strict else ruleset.classify)(account)
    except ClassifyError as error:
        text = str(error)
        if isinstance(error, InputError):
            assert error.problems
            assert len(text) < 120 * len(error.problems) + 200, text  # every value cut short
        return
    json.dumps(decision.to_dict())
    decision.explain()
    decision.ignored_hints  # noqa: B018 (reads every ignored field's name)


@settings(max_examples=400, deadline=None)
@given(account=any_account(), strict=st.booleans())
def test_any_python_value_or_account_is_decided_or_refused(account: Any, strict: bool) -> None:
    answered_or_refused(EVERY, account, strict)
    results = EVERY.classify_many([account, account])
    assert len(results) == 2
    assert all(isinstance(r, Decision | ClassifyError) for r in results)


GOOD = {
    "followers": 1,
    "posts": 1,
    "engagement_rate": 0.01,
    "score": 0,
    "platform": "x",
    "topics": [],
}


def test_a_value_nested_100000_deep_is_refused_in_words() -> None:
    account = {**GOOD, "platform": nested("x", 100_000)}
    try:
        EVERY.classify(account)
    except InputError as error:
        assert str(error) == (
            "invalid account: platform: expected a text, "
            "got [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[… (a list)"
        )
    else:
        raise AssertionError("a list is not a text")


def test_a_key_nested_3000_deep_is_named_by_a_preview() -> None:
    good = GOOD
    key = nested(1, 3_000, tuple)
    decision = EVERY.classify({**good, key: 1})
    assert decision.ignored_fields == ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…",)
    json.dumps(decision.to_dict())
    try:
        EVERY.classify_strict({**good, key: 1})
    except InputError as error:
        assert "[[[[[[[[[[[…: not an input of these rules" in str(error)
    else:
        raise AssertionError("strict mode refuses undeclared fields")


def test_accounts_that_are_not_mappings_are_refused_in_words() -> None:
    expected = "invalid account: account: expected an object of named values, got "
    for account, shown in [
        (RecordLike(), "a value of another kind"),
        ([("followers", 1)], '[["followers", 1]] (a list)'),
        (45_000, "45000 (a whole number)"),
        (LyingFloat(0.5), "0.5 (a number)"),
        ("followers", '"followers" (a text)'),
        (b"{}", "a value of another kind"),
        (None, "null"),
    ]:
        for run in (EVERY.classify, EVERY.classify_strict):
            try:
                run(account)
            except InputError as error:
                assert str(error) == expected + shown
            else:
                raise AssertionError(f"{account!r} is not an account")
        (refused,) = EVERY.classify_many([account])
        assert isinstance(refused, InputError)


def test_nan_is_refused_not_taken_as_missing() -> None:
    """A missing value is None or an absent field (an optional input then takes its
    default). NaN, what a DataFrame holds for a missing float, is refused naming the
    field, also where the input is optional: it is as often the result of 0/0 upstream,
    and a default taken silently would hide that."""
    float64 = type("float64", (float,), {})
    optional = Ruleset(
        check_source(
            Source(
                "input followers: count\ninput fake: percent optional default 0%\n"
                "tier clean when fake below 10%\notherwise none\n",
                "nan.tiers",
            ),
            analyse=False,
        )
    )
    assert optional.classify({"followers": 1, "fake": None}).tier == "clean"
    assert optional.classify({"followers": 1}).tier == "clean"
    for nan in (float("nan"), float64("nan")):
        for account, field in (
            ({"followers": 1, "fake": nan}, "fake"),
            ({"followers": nan}, "followers"),
        ):
            try:
                optional.classify(account)
            except InputError as error:
                (problem,) = error.problems
                assert (problem.field, problem.given) == (field, "NaN (not a number)")
            else:
                raise AssertionError("NaN is not a value")


def test_numpy_values_of_a_dataframe_row_are_read_as_plain_values() -> None:
    """The issue's first call from a DataFrame row: every value a numpy scalar, the set a
    numpy array; numpy's dates and time spans are refused, not read as counts."""
    row = {
        "followers": np.int64(45_000),
        "engagement_rate": np.float32(0.042),
        "topics": np.array(["fashion"]),
        "platform": np.str_("instagram"),
    }
    rules = Ruleset(check_source(Source(SYNTHESIS_TEXT, "synthesis.tiers"), analyse=False))
    assert rules.classify(row).tier == "micro"
    assert rules.classify_many([row])[0].tier == "micro"
    for odd in (np.timedelta64(5), np.datetime64("2026-01-01"), np.complex128(1)):
        with pytest.raises(InputError, match="followers: expected a count"):
            rules.classify({**row, "followers": odd})
