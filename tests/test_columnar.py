"""The columnar evaluator answers as `classify` does, row by row (issue 29).

Tier, labels, rule and error text are compared with `classify` on boundary-heavy
accounts (tests/columnar_accounts.py), bad rows included, for every shipped ruleset
and for generated rulesets under both policies, through lists, numpy arrays, Arrow
arrays and `tierline.tables.classify_frame` on pandas, polars and Arrow tables. The
fast suite runs a few thousand accounts each; the `slow` tests 100,000 each.
"""

from __future__ import annotations

import enum
import gc
import itertools
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import engine.columnar.evaluate as columnar_evaluate
import engine.ruleset
from engine import ClassifyError, Decision, Ruleset, load_ruleset
from engine.language.source import Source
from engine.load import check_source
from tests.columnar_accounts import accounts, as_columns, expected
from tests.conftest import ROOT, RULES
from tests.typed_rules import EVERY_CONSTRUCT, rulesets
from tierline.tables.frames import classify_frame

PATHS = sorted([*RULES.glob("*.tiers"), *(ROOT / "definitions").rglob("*.tiers")])
SHIPPED = {str(p.relative_to(ROOT)): load_ruleset(p) for p in PATHS}
UNIQUE_EVERY = EVERY_CONSTRUCT.replace("policy first", "policy unique")
OUTPUTS = ("tier", "labels", "rule", "error")
Rows = list[dict[str, Any]]


def unchecked(text: str) -> Ruleset:
    """A ruleset without the overlap analysis: under `policy unique`, its tiers may
    overlap, and a row both match is refused at run time."""
    return Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))


GENERATED = {
    "every first": load_ruleset(text=EVERY_CONSTRUCT),
    "every unique": unchecked(UNIQUE_EVERY),
}
ALL = {**SHIPPED, **GENERATED}


# ------------------------------------------------------------------- variants


def plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def as_int(value: Any, low: int, high: int) -> int | None:
    """An int the column can hold (a whole float becomes its int), else None."""
    if type(value) is float and value.is_integer():
        value = int(value)
    return value if type(value) is int and low <= value < high else None


def _numeric(ruleset: Ruleset, name: str) -> bool:
    return ruleset.inputs[name] in ("count", "number", "percent")


def numpy_columns(ruleset: Ruleset, rows: Rows, seed: int) -> dict[str, Any]:
    """Typed numpy arrays (no gaps): numbers as int64 or float64 by turns, texts as str."""
    out: dict[str, Any] = {}
    for k, (name, kind) in enumerate(ruleset.inputs.items()):
        values = [row.get(name) for row in rows]
        if _numeric(ruleset, name) and (seed + k) % 2:
            ints = [as_int(v, -(2**63), 2**63) for v in values]
            out[name] = np.array([-1 if v is None else v for v in ints], np.int64)
        elif _numeric(ruleset, name):
            out[name] = np.array(
                [
                    float(v) if type(v) in (int, float) and abs(v) < 1e308 else math.nan
                    for v in values
                ]
            )
        elif kind == "text":
            out[name] = np.array([v if type(v) is str else "" for v in values])
        elif kind == "flag":
            out[name] = np.array([v is True for v in values])
        else:
            cells = np.empty(len(values), dtype=object)
            cells[:] = [list(v) if isinstance(v, list | tuple | frozenset) else v for v in values]
            out[name] = cells
    return out


def arrow_columns(ruleset: Ruleset, rows: Rows, seed: int) -> dict[str, Any]:
    """Arrow arrays with nulls: numbers int64, uint64 or float64 by turns, texts plain or
    dictionary-encoded, sets as lists of texts (some holding a null)."""
    out: dict[str, Any] = {}
    for k, (name, kind) in enumerate(ruleset.inputs.items()):
        values = [row.get(name) for row in rows]
        turn = (seed + k) % 3
        whole = kind == "count" or (kind == "number" and turn == 0)  # else fractions: nulls
        if _numeric(ruleset, name) and whole and turn == 0:
            out[name] = pa.array(
                [v if type(v) is int and -(2**63) <= v < 2**63 else None for v in values],
                pa.int64(),
            )
        elif _numeric(ruleset, name) and whole and turn == 1:
            out[name] = pa.array([as_int(v, 0, 2**64) for v in values], pa.uint64())
        elif _numeric(ruleset, name):
            out[name] = pa.array(
                [float(v) if type(v) in (int, float) and abs(v) < 1e308 else None for v in values],
                pa.float64(),
            )
        elif kind == "text":
            texts = pa.array([v if type(v) is str else None for v in values], pa.string())
            out[name] = texts.dictionary_encode() if turn else texts
        elif kind == "flag":
            out[name] = pa.array([v if type(v) is bool else None for v in values], pa.bool_())
        else:
            lists = [
                [x if type(x) is str else None for x in v]
                if isinstance(v, list | tuple | frozenset)
                else None
                for v in values
            ]
            out[name] = pa.array(lists, pa.list_(pa.string()))
    return out


def seen(columns: dict[str, Any], n: int) -> Rows:
    """The accounts the columns hold, as `classify` takes them (a gap is absent)."""
    lists = {
        name: column.to_pylist() if isinstance(column, pa.Array) else [plain(v) for v in column]
        for name, column in columns.items()
    }
    return [{k: v[i] for k, v in lists.items() if v[i] is not None} for i in range(n)]


def answers(out: Any, n: int) -> list[tuple[Any, ...]]:
    got = []
    for row in range(n):
        tier, labels, rule, error = (out[name][row] for name in OUTPUTS)
        got.append((tier, None if labels is None else tuple(labels), rule, error))
    return got


def frame_answers(frame: Any) -> list[tuple[Any, ...]]:
    if isinstance(frame, pd.DataFrame):  # pandas 3 keeps texts as `str`, gaps as NaN
        columns = {
            name: [v if isinstance(v, tuple) or not pd.isna(v) else None for v in frame[name]]
            for name in OUTPUTS
        }
    elif isinstance(frame, pl.DataFrame):
        columns = {name: frame[name].to_list() for name in OUTPUTS}
    else:
        columns = {name: frame.column(name).to_pylist() for name in OUTPUTS}
    return answers(columns, len(columns["tier"]))


def pandas_rows(frame: pd.DataFrame, names: list[str]) -> Rows:
    """What classify_frame reads from a pandas frame: a NaN of a float column is a NaN;
    a gap of any other column (None, pd.NA, the NaN of a text column) is absent."""
    rows: Rows = []
    floats = {name for name in names if frame[name].dtype.kind == "f"}
    for record in frame[names].to_dict("records"):
        row = {}
        for name, value in record.items():
            if isinstance(value, np.ndarray):
                row[name] = value.tolist()
            elif name in floats or not (value is None or value is pd.NA or _nan(value)):
                row[name] = value
        rows.append(row)
    return rows


def _nan(value: Any) -> bool:
    return type(value) is float and math.isnan(value)


def through(
    kind: str, ruleset: Ruleset, rows: Rows, seed: int
) -> tuple[Rows, list[tuple[Any, ...]]]:
    """(the accounts as the columns hold them, the columnar answers) for one way in."""
    n = len(rows)
    if kind == "lists":
        return rows, answers(ruleset.classify_columns(as_columns(ruleset, rows)), n)
    if kind == "numpy":
        columns = numpy_columns(ruleset, rows, seed)
        return seen(columns, n), answers(ruleset.classify_columns(columns), n)
    arrays = arrow_columns(ruleset, rows, seed)
    if kind == "arrow":
        return seen(arrays, n), answers(ruleset.classify_columns(arrays), n)
    table = pa.table(arrays) if arrays else pa.table({"id": pa.array(range(n))})
    if kind == "arrow table":
        return seen(arrays, n), frame_answers(classify_frame(table, ruleset))
    if kind == "polars":
        return seen(arrays, n), frame_answers(classify_frame(pl.from_arrow(table), ruleset))
    assert kind == "pandas"
    frame = table.to_pandas()
    return pandas_rows(frame, list(arrays)), frame_answers(classify_frame(frame, ruleset))


KINDS = ["lists", "numpy", "arrow", "arrow table", "polars", "pandas"]


def assert_agrees(kind: str, ruleset: Ruleset, n: int, seed: int) -> None:
    rows, got = through(kind, ruleset, accounts(ruleset, n, seed), seed)
    wrong = []
    for row, account in enumerate(rows):
        want = expected(ruleset, account)
        if got[row] != want:
            wrong.append(f"row {row} {account!r}:\n  columns {got[row]!r}\n  classify {want!r}")
    assert not wrong, f"{len(wrong)} rows differ; the first:\n" + "\n".join(wrong[:5])


# ---------------------------------------------------------------- the sweeps


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(ALL))
def test_columns_answer_as_classify(name: str, kind: str) -> None:
    assert_agrees(kind, ALL[name], 2_000 if kind == "lists" else 600, seed=len(name))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(ALL))
def test_columns_answer_as_classify_on_100_000_accounts(name: str, kind: str) -> None:
    assert_agrees(kind, ALL[name], 100_000, seed=29)


def _generated(text: str) -> Ruleset:
    return unchecked(text)  # the analysis refuses some; the evaluators must agree on all


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets())
def test_generated_rulesets_answer_as_classify(text: str) -> None:
    ruleset = _generated(text)
    for kind in ("lists", "arrow"):
        assert_agrees(kind, ruleset, 300, seed=len(text))


@pytest.mark.slow
@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(text=rulesets())
def test_generated_rulesets_answer_as_classify_on_100_000_accounts(text: str) -> None:
    ruleset = _generated(text)
    for kind in KINDS:
        assert_agrees(kind, ruleset, 100_000 if kind == "lists" else 20_000, seed=len(text))


# ------------------------------------------------------- the columns decide


@pytest.fixture
def python_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many rows the Python evaluator decided, batch by batch."""
    counted: list[int] = []
    real = columnar_evaluate.decide_rows

    def counting(classify: Callable[..., Any], values: Any, count: int) -> Any:
        counted.append(count)
        return real(classify, values, count)

    monkeypatch.setattr(columnar_evaluate, "decide_rows", counting)
    yield counted


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of each batch the columnar evaluator decided."""
    counted: list[int] = []
    real = columnar_evaluate.ColumnarProgram._decide

    def counting(self: Any, columns: Any, n: int) -> Any:
        counted.append(n)
        return real(self, columns, n)

    monkeypatch.setattr(columnar_evaluate.ColumnarProgram, "_decide", counting)
    yield counted


@pytest.mark.parametrize("kind", ["lists", "numpy", "arrow"])
def test_clean_columns_are_decided_without_the_python_evaluator(
    kind: str, python_rows: list[int]
) -> None:
    """The answers of clean rows come from the arrays, not from `classify` row by row."""
    ruleset = GENERATED["every first"]
    rows = accounts(ruleset, 3_000, seed=5, bad=0.0)
    rows = [
        r
        for r in rows
        # (posts - 1) * 2 past 2^53 is exact only in Python: those rows go there, rightly
        if all(type(v) not in (int, float) or abs(v) <= 2**50 for v in r.values())
        and all(type(v) in (int, float, str, bool, list) for v in r.values())
    ]
    columns: dict[str, Any] = (
        as_columns(ruleset, rows)
        if kind == "lists"
        else numpy_columns(ruleset, rows, 0)
        if kind == "numpy"
        else arrow_columns(ruleset, rows, 2)
    )
    out = ruleset.classify_columns(columns)
    refused = sum(error is not None for error in out["error"])  # numpy's -1 for a float
    assert refused < len(rows) // 2 and sum(python_rows) == refused
    assert answers(out, len(rows)) == [expected(ruleset, a) for a in seen_or(columns, rows)]


def seen_or(columns: dict[str, Any], rows: Rows) -> Rows:
    return rows if all(isinstance(c, list) for c in columns.values()) else seen(columns, len(rows))


# --------------------------------------------------------- exact boundaries


def one(text: str, **columns: Any) -> list[tuple[Any, ...]]:
    ruleset = load_ruleset(text=text, name="t")
    n = len(next(iter(columns.values())))
    out = answers(ruleset.classify_columns(columns), n)
    rows = seen({k: (v if isinstance(v, pa.Array) else list(v)) for k, v in columns.items()}, n)
    assert out == [expected(ruleset, row) for row in rows]
    return out


def test_a_count_beyond_2_53_compares_exactly_with_its_literal(python_rows: list[int]) -> None:
    rules = "ruleset t\ninput followers: count\ntier big when followers at least 9007199254740993\n"
    values = np.array([2**53, 2**53 + 1, 2**53 + 2, 2**63 - 1], dtype=np.int64)
    out = one(rules, followers=values)
    assert [o[0] for o in out] == [None, "big", "big", "big"]
    assert sum(python_rows) == 0  # int64 against an int literal: exact without Python


def test_a_count_against_a_fraction_and_an_int64_against_a_float64() -> None:
    rules = "ruleset t\ninput followers: count\ntier a when followers above 2.5\notherwise b\n"
    ints = one(rules, followers=np.array([2, 3, 0], dtype=np.int64))
    floats = one(rules, followers=np.array([2.0, 3.0, -0.0]))
    assert ints == floats == [("b", (), "b", None), ("a", (), "a", None), ("b", (), "b", None)]


def test_ints_past_int64_in_a_list_are_read_as_python_reads_them() -> None:
    rules = "ruleset t\ninput score: number\ntier a when score > 100000000000000000000.0\n"
    out = one(rules, score=[10**20, 10**20 + 1, 2**64, 1e20, -(2**70)])
    assert [o[0] for o in out] == [None, "a", None, None, None]  # 2**64 < 1e20


def test_integer_arithmetic_past_2_53_is_exact() -> None:
    rules = (
        "ruleset t\ninput a: count\ninput b: count\n"
        "tier exact when a * b == 81129638414606699710187514626049\notherwise not\n"
    )
    out = one(rules, a=[2**53 + 1, 3], b=[2**53 + 1, 5])
    assert [o[0] for o in out] == ["exact", "not"]


def test_nan_infinity_and_negative_counts_are_refused_in_classify_words() -> None:
    rules = "ruleset t\ninput followers: count\ninput rate: percent\ntier a when rate > 1%\n"
    out = one(
        rules,
        followers=np.array([1.0, math.nan, -1.0, 1.5]),
        rate=np.array([0.5, 0.5, math.inf, 4.2]),
    )
    assert out[0][0] == "a"
    assert "followers: expected a count (a whole number, 0 or more), got NaN" in out[1][3]
    assert "rate: expected a percentage" in out[2][3] and "infinity" in out[2][3]
    assert "4.2 is 420%" in out[3][3]


def test_division_by_zero_is_zero_and_defaults_fill_gaps() -> None:
    rules = (
        "ruleset t\ninput likes: count\ninput posts: count optional default 0\n"
        "let per_post = likes / posts\ntier none_per_post when per_post == 0\notherwise some\n"
    )
    out = one(rules, likes=pa.array([5, 5, 0]), posts=pa.array([0, None, 5]))
    assert [o[0] for o in out] == ["none_per_post", "none_per_post", "none_per_post"]


def test_a_unique_conflict_is_refused_with_both_tiers_named() -> None:
    ruleset = unchecked(
        "ruleset u\npolicy unique\ninput n: count\ntier a when n > 1\ntier b when n > 2\n"
    )
    out = ruleset.classify_columns({"n": [1, 2, 3]})
    assert list(out["tier"]) == [None, "a", None]
    assert "tiers 'a' (line 4) and 'b' (line 5) both match this account" in out["error"][2]


# --------------------------------------------------------------- the API


def test_a_batch_of_columns_gets_the_answers_of_classify() -> None:
    rs = SHIPPED["rules/synthesis.tiers"]
    columns = {
        "followers": np.array([45_000, 2_000_000, 5, 10_000]),
        "engagement_rate": pa.array([0.042, 0.01, None, 4.2]),
        "topics": [["fashion"], [], None, ["tech"]],
        "platform": ["instagram", "x", "y", "tiktok"],
    }
    out = rs.classify_columns(columns)
    assert set(out) == set(OUTPUTS)
    assert answers(out, 1) == [("micro", ("fashion_expert",), "micro", None)]
    assert out["tier"][1] == "mega"
    assert out["error"][2] == (
        "invalid account: engagement_rate: missing, expected a percentage as a fraction"
        " (0.042 is 4.2%); topics: missing, expected a list of texts"
    )
    assert out["tier"][2] is None and out["labels"][2] is None


def test_columns_of_different_lengths_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="platform has 1"):
        SHIPPED["rules/synthesis.tiers"].classify_columns({"followers": [1, 2], "platform": ["x"]})


def test_an_empty_batch_gives_empty_columns() -> None:
    out = SHIPPED["rules/synthesis.tiers"].classify_columns({"followers": []})
    assert all(len(out[name]) == 0 for name in OUTPUTS)


def test_classify_frame_keeps_the_kind_and_the_columns_of_the_frame() -> None:
    rs = SHIPPED["rules/fda.tiers"]
    frame = pd.DataFrame({"id": ["a", "b", "c"], "n_followers": [500, 20_000, math.nan]})
    out = classify_frame(frame, rs, columns={"followers": "n_followers"})
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["id", "n_followers", *OUTPUTS]
    assert rs.classify({"followers": 500}).tier is None and pd.isna(out["tier"][0])
    assert out["tier"][1] == "micro" and out["rule"][0] == "none"  # `otherwise none`
    assert out["error"][2] == (
        "invalid account: followers: expected a count (a whole number, 0 or more),"
        " got NaN (not a number)"
    )  # a NaN is refused as classify refuses it; pd.NA is a gap
    gaps = pd.DataFrame({"followers": pd.array([20_000, None], dtype="Int64")})
    assert classify_frame(gaps, rs)["error"][1] == (
        "invalid account: followers: missing, expected a count (a whole number, 0 or more)"
    )
    polars = classify_frame(pl.from_pandas(frame), rs, columns={"followers": "n_followers"})
    assert isinstance(polars, pl.DataFrame) and polars["tier"].to_list()[1] == "micro"
    assert polars.schema["labels"] == pl.List(pl.String)
    table = classify_frame(pa.table({"followers": [20_000]}), rs)
    assert table.column("tier").to_pylist() == ["micro"] and table.num_columns == 5


def test_classify_frame_refuses_what_it_would_overwrite_or_cannot_find() -> None:
    rs = SHIPPED["rules/fda.tiers"]
    with pytest.raises(ValueError, match="already has a column 'tier'"):
        classify_frame(pd.DataFrame({"followers": [1], "tier": ["x"]}), rs)
    with pytest.raises(ValueError, match="no column 'nope'"):
        classify_frame(pd.DataFrame({"followers": [1]}), rs, columns={"followers": "nope"})
    with pytest.raises(TypeError, match="pandas or polars DataFrame or an Arrow table"):
        classify_frame([{"followers": 1}], rs)


def test_tables_dir_is_where_the_shipped_rules_are() -> None:
    assert Path(ROOT / "definitions").is_dir() and len(SHIPPED) >= 11


# --------------------------------------------------------------- classify_many


class Level(enum.IntEnum):
    HIGH = 3


def assert_answers_as_classify(ruleset: Ruleset, rows: Rows, many: list[Any]) -> None:
    """Each answer is what `classify` gives: the same rule object, labels and account,
    or an error of the same type and text in its place."""
    assert len(many) == len(rows)
    for account, got in zip(rows, many, strict=True):
        try:
            want: Any = ruleset.classify(account)
        except ClassifyError as error:
            assert type(got) is type(error) and str(got) == str(error)
            continue
        assert type(got) is Decision, got
        assert (got.tier, got.labels, got.rule) == (want.tier, want.labels, want.rule)
        assert got.rule is want.rule and got.account is account and got.ruleset is ruleset


@pytest.mark.parametrize("name", sorted(ALL))
def test_classify_many_answers_exactly_as_one_by_one_on_both_sides_of_the_crossover(
    name: str, batches: list[int]
) -> None:
    """From COLUMNAR_FROM dicts (the default), classify_many runs the columnar path (the
    spy sees it), below it row by row; on both sides each answer is what `classify`
    gives, bad rows' errors in their places. Every shipped and generated ruleset; the
    generated ones over 20,000 dicts too."""
    start = engine.ruleset.COLUMNAR_FROM
    assert start is not None and start <= 20_000, "the columnar path is on by default"
    ruleset = ALL[name]
    rows = accounts(ruleset, 20_000 if name in GENERATED else start, seed=3)
    for size in sorted({start - 1, start, len(rows)}):
        batches.clear()
        many = ruleset.classify_many(rows[:size])
        assert batches == ([] if size < start else [size]), size
        assert_answers_as_classify(ruleset, rows[:size], many)


def test_classify_many_of_a_large_batch_reads_odd_python_values_and_gaps(
    batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dicts of a batch may lack keys, hold None, bools, big ints, numpy scalars and
    IntEnums: the columnar path answers each as `classify` does."""
    monkeypatch.setattr(engine.ruleset, "COLUMNAR_FROM", 1_000)
    ruleset = ALL["every first"]
    rows = accounts(ruleset, 5_000, seed=11)
    odd: list[Any] = [None, True, 2**64, -(2**70), np.int64(7), np.float64(0.5), "12", 1.5]
    odd += [Level.HIGH, frozenset({"a"}), ("tech",), -0.0, math.nan]
    for k, row in enumerate(rows[::7]):
        name = list(ruleset.inputs)[k % len(ruleset.inputs)]
        if k % 3 == 0:
            row.pop(name, None)
        else:
            row[name] = odd[k % len(odd)]
    many = ruleset.classify_many(rows)
    assert batches == [len(rows)]
    assert_answers_as_classify(ruleset, rows, many)


def test_a_batch_decision_is_a_whole_decision(
    batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`batch_decisions` skips `__init__`: every slot of a Decision is still set, to
    what `classify` sets it (the time aside: the call's start + the row, in ns), so reasons, the
    explanation and ids work; ids differ from one decision to the next."""
    monkeypatch.setattr(engine.ruleset, "COLUMNAR_FROM", 1_000)
    ruleset = ALL["rules/synthesis.tiers"]
    rows = accounts(ruleset, 3_000, seed=2, bad=0.0)
    before = time.time_ns()
    assert gc.isenabled()
    many = ruleset.classify_many(rows)
    assert batches == [len(rows)] and gc.isenabled(), "the collector is left as it was"
    made = [d for d in many if isinstance(d, Decision)]
    assert len(made) > 2_000
    for got in made[:50]:
        want = ruleset.classify(got.account)
        for slot in Decision.__slots__:
            if slot != "time_ns":
                assert getattr(got, slot) == getattr(want, slot), slot
        assert before <= got.time_ns <= want.time_ns
        assert got.explain() == want.explain() and got.reasons == want.reasons
    assert len({d.decision_id for d in made}) == len(made)


STAMPED = """ruleset t
input followers: count
input posts: count
tier big when followers * 2 at least 100
tier small when posts at least 1
"""


def test_ids_of_a_columnar_batch_sort_in_row_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 dicts through the columnar path, with bad rows and rows handed back to
    `classify` (a product past 2^53) in the middle: the ids of the Decisions are unique
    and strictly increasing in row order, `ts` never goes backwards, and every stamp
    lies within the call. (One stamp for the batch left the order to random bits, and
    the rows `classify` answered came after all the others.)"""
    ruleset = load_ruleset(text=STAMPED, name="t")
    handed_back: list[int] = []
    program = ruleset.columnar
    real = program.classify

    def counting(account: Any) -> Decision:
        handed_back.append(1)
        return real(account)

    monkeypatch.setattr(program, "classify", counting)
    rows: list[dict[str, Any]] = [{"followers": k % 200, "posts": k % 3} for k in range(20_000)]
    for k in range(500, 20_000, 997):
        rows[k] = {"followers": 2**60 + k, "posts": 1}  # exact only in Python
    for k in range(700, 20_000, 1009):
        rows[k] = {"followers": -1, "posts": 1}  # refused: a ClassifyError in its place
    before = time.time_ns()
    many = ruleset.classify_many(rows)
    after = time.time_ns()
    assert len(handed_back) > 30, "some rows were answered by classify"
    errors = [k for k, d in enumerate(many) if isinstance(d, ClassifyError)]
    assert errors == list(range(700, 20_000, 1009))
    made = [d for d in many if isinstance(d, Decision)]
    assert len(made) == 20_000 - len(errors)
    assert [many[k].tier for k in range(500, 20_000, 997)] == ["big"] * 20  # type: ignore[union-attr]
    ids = [d.decision_id for d in made]
    assert all(a < b for a, b in itertools.pairwise(ids)), "ids strictly increasing in row order"
    assert len(set(ids)) == len(ids)
    stamps = [d.ts for d in made]
    assert all(a <= b for a, b in itertools.pairwise(stamps)), "ts never goes backwards"
    assert all(before <= d.time_ns <= after for d in made)
    # the next call's decisions come after this one's
    later = ruleset.classify_many(rows[:6_000])
    assert min(d.decision_id for d in later if isinstance(d, Decision)) > ids[-1]


def test_stamps_past_the_calls_end_are_moved_back_in_order() -> None:
    """A batch stamped from a start the clock has since stepped back from (an NTP step
    during the call): `stamp_in_order` moves every stamp to end at the clock's now,
    keeping the row order, and the ids follow."""
    from engine.decision import batch_decisions, stamp_in_order

    ruleset = load_ruleset(text=STAMPED, name="t")
    rows: list[Any] = [{"followers": k, "posts": 1} for k in range(1_000)]
    future = time.time_ns() + 10**9
    made = batch_decisions(ruleset, future, [None] * len(rows), [()] * len(rows), rows)
    assert made[5].decision_id  # an id made before the move is made again
    stamp_in_order(made, future)
    after = time.time_ns()
    assert all(d.time_ns <= after for d in made)
    assert [d.time_ns - made[0].time_ns for d in made] == list(range(len(rows)))
    ids = [d.decision_id for d in made]
    assert all(a < b for a, b in itertools.pairwise(ids))


def test_an_id_keeps_the_order_of_stamps_one_nanosecond_apart() -> None:
    """The ids of stamps 1 ns apart (crossing a millisecond too) sort as the stamps."""
    from engine.decision import new_decision_id

    start = 1_790_000_000_123_999_000
    ids = [new_decision_id(start + k) for k in range(3_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids), "a UUIDv7, RFC 9562 variant"


def test_classify_many_runs_row_by_row_for_small_or_other_batches(batches: list[int]) -> None:
    ruleset = ALL["rules/synthesis.tiers"]
    rows = accounts(ruleset, 20_000)
    ruleset.classify_many(rows[:100])
    ruleset.classify_many([*rows, "not an account"])
    ruleset.classify_many(iter(rows))  # not a list: read once, row by row
    assert batches == []


def test_an_arrow_dictionary_that_repeats_a_text_or_holds_a_null() -> None:
    """Arrow lets a dictionary hold a text twice, or a null: each row means its value."""
    rules = (
        'ruleset t\ninput platform: text optional default "web"\ntier tube when platform is "yt"\n'
    )
    dictionary = pa.array(["yt", "ig", "yt", None])
    column = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 3, None]), dictionary)
    out = one(rules, platform=column)
    assert [o[0] for o in out] == ["tube", None, "tube", None, None]


def test_the_column_types_data_people_hold_are_read_as_classify_reads_their_values() -> None:
    """pandas categorical, nullable Int64 and str columns; polars large strings and lists;
    an Arrow chunked array, large_string and a sliced list array: each row as classify."""
    rs = SHIPPED["rules/synthesis.tiers"]
    rows = accounts(rs, 400, seed=11, bad=0.0)
    good = [r for r in rows if all(type(v) in (int, float, str, list) for v in r.values())]
    good = [r for r in good if all(type(v) is not int or abs(v) < 2**62 for v in r.values())]
    frame = pd.DataFrame(as_columns(rs, good))
    frame["platform"] = frame["platform"].astype("category")
    frame["followers"] = frame["followers"].astype("Int64")
    got = frame_answers(classify_frame(frame, rs))
    want = [expected(rs, a) for a in pandas_rows(frame, list(rs.inputs))]
    assert got == want
    table = pa.Table.from_pandas(frame, preserve_index=False)  # NaN becomes null here
    arrays = {name: table[name].combine_chunks() for name in rs.inputs}
    want = [expected(rs, a) for a in seen(arrays, len(good))]
    assert frame_answers(classify_frame(pl.from_arrow(table), rs)) == want
    chunked = {
        "followers": pa.chunked_array(
            [table["followers"].combine_chunks()[:7], table["followers"].combine_chunks()[7:]]
        ),
        "engagement_rate": table["engagement_rate"],
        "topics": pa.array([[], *frame["topics"].tolist()], pa.large_list(pa.large_string()))[1:],
        "platform": table["platform"].cast(pa.large_string()),
        "fake_follower_ratio": table["fake_follower_ratio"],
    }
    assert answers(rs.classify_columns(chunked), len(good)) == want


def test_a_sliced_arrow_list_column_reads_its_own_lists() -> None:
    rules = 'ruleset t\ninput topics: set of text\ntier tech when topics has "tech"\n'
    lists = pa.array([["tech", "x"], ["tech"], ["food"], [], ["a", "tech"]], pa.list_(pa.string()))
    out = one(rules, topics=lists[1:])
    assert [o[0] for o in out] == ["tech", None, None, "tech"]
