"""The rules as SQL on DuckDB give the Python evaluator's answers, row by row:
tier, labels, rule, and whether the row is refused (engine/sql, tables/duck.py)."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ClassifyError, Ruleset, load_ruleset
from engine.language.ast import TypeName
from engine.language.source import Source
from engine.load import check_source
from engine.sql import DIALECTS
from engine.sql.compile import SqlError, compile_sql, result_columns
from tests.conftest import RULES, tierline
from tests.typed_rules import EVERY_CONSTRUCT, rulesets
from tierline.tables.duck import classify_table

T = TypeName
SQL_TYPES = {
    T.COUNT: "DOUBLE",  # a double column, so that -5 and 2.5 can be refused as Python does
    T.NUMBER: "DOUBLE",
    T.PERCENT: "DOUBLE",
    T.TEXT: "VARCHAR",
    T.FLAG: "BOOLEAN",
    T.TEXT_SET: "VARCHAR[]",
}
COUNTS = [0, 1, 999, 1000, 1001, 4999, 5000, 9999, 10_000, 10_001, 49_999, 50_000, 99_999,
          100_000, 100_001, 200_000, 200_001, 499_999, 500_000, 999_999, 1_000_000,
          1_000_001, 5_000_000]  # fmt: skip
RATES = [0.0, 0.0099, 0.01, 0.0101, 0.0199, 0.02, 0.0349, 0.035, 0.0351, 0.05, 0.1, 1.0]
TEXTS = ["instagram", "tiktok", "youtube", 'we"ird\\', "ünï", ""]
TOPICS = ["fashion", "tech", "gaming", "food", "beauty", "crypto"]
# Percents out of 0%..100%: in percent units (4.2 for 4.2%), counts (637K), just past 1,
# negative, huge, not finite; each refused with the same text by Python and SQL.
BAD_PERCENTS = [-0.5, None, 4.2, 637_000.0, 1.0000001, 150.0, 42.0, 123.45, -1e300, 1e300,
                float("inf"), float("nan"), 2.0, 100.0]  # fmt: skip


def boundary_value(type_: T, rnd: random.Random) -> Any:
    """Mostly values on and beside the bounds rule files use; some bad ones."""
    roll = rnd.random()
    if type_ is T.COUNT:
        if roll < 0.03:
            return rnd.choice([-1.0, 2.5, None])
        return float(rnd.choice(COUNTS) if roll < 0.8 else rnd.randint(0, 2_000_000))
    if type_ is T.PERCENT:  # 0% to 100%, and the unit mistakes the contract refuses
        if roll < 0.05:
            return rnd.choice(BAD_PERCENTS)
        if roll < 0.8:
            return rnd.choice(RATES)
        return rnd.uniform(0, 1) if roll < 0.95 else rnd.uniform(-10, 10)
    if type_ is T.NUMBER:
        if roll < 0.03:
            return rnd.choice([-0.5, None, 4.2])
        return rnd.choice(RATES) if roll < 0.8 else rnd.uniform(-10, 10)
    if type_ is T.TEXT:
        return None if roll < 0.02 else rnd.choice(TEXTS)
    if type_ is T.FLAG:
        return None if roll < 0.05 else rnd.random() < 0.5
    return None if roll < 0.02 else rnd.sample(TOPICS, rnd.randint(0, 3))


def load_table(
    connection: duckdb.DuckDBPyConnection, ruleset: Ruleset, rows: list[dict[str, Any]], where: Path
) -> None:
    inputs = ruleset.checked.inputs
    path = where / "accounts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    columns = {name: SQL_TYPES[decl.type] for name, decl in inputs.items()}
    spec = "{" + ", ".join(f"'{n}': '{t}'" for n, t in columns.items()) + "}"
    connection.execute(
        f"CREATE OR REPLACE TABLE accounts AS SELECT row_number() OVER () AS row, * "
        f"FROM read_json('{path}', columns = {spec}, format = 'newline_delimited')"
    )


def python_answer(ruleset: Ruleset, row: dict[str, Any]) -> tuple[Any, ...]:
    """(tier, labels, rule, error) as the SQL gives them: the error is the Python API's
    message, which the SQL's `error` column must say word for word."""
    account = {k: v for k, v in row.items() if k in ruleset.checked.inputs}
    try:
        d = ruleset.classify(account)
    except ClassifyError as error:
        return (None, None, None, str(error))
    return (d.tier, list(d.labels), d.rule.name if d.rule else None, None)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def normalised(error: str | None) -> str | None:
    """An error text with each number written to 12 significant digits. Engines write a
    double each their own way (PostgreSQL 1e+300, Spark 1.0E300, and PostgreSQL rounds a
    percent's hint through NUMERIC): DuckDB's text is compared exactly, theirs so."""
    if error is None:
        return None
    return _NUMBER.sub(lambda m: format(float(m.group()), ".12g"), error)


def assert_same_answers(ruleset: Ruleset, rows: list[dict[str, Any]], where: Path) -> int:
    connection = duckdb.connect()
    load_table(connection, ruleset, rows, where)
    relation = classify_table(connection, ruleset, "accounts")
    names = relation.columns
    checked = 0
    for values in relation.order("row").fetchall():
        got = dict(zip(names, values, strict=True))
        row = {k: got[k] for k in ruleset.checked.inputs}
        sql = (got["tier"], got["labels"], got["rule"], got["error"])
        assert sql == python_answer(ruleset, row), row
        checked += 1
    return checked


@pytest.mark.parametrize("path", sorted(RULES.glob("*.tiers")), ids=lambda p: p.stem)
def test_shipped_rulesets_agree_on_100000_boundary_accounts(path: Path, tmp_path: Path) -> None:
    ruleset = load_ruleset(path)
    rnd = random.Random(path.stem)
    rows = [
        {name: boundary_value(decl.type, rnd) for name, decl in ruleset.checked.inputs.items()}
        for _ in range(100_000)
    ]
    assert assert_same_answers(ruleset, rows, tmp_path) == 100_000


def _generated_agree(text: str, seed: int, count: int, where: Path) -> None:
    ruleset = Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))
    rnd = random.Random(seed)
    rows = [
        {name: boundary_value(decl.type, rnd) for name, decl in ruleset.checked.inputs.items()}
        for _ in range(count)
    ]
    assert assert_same_answers(ruleset, rows, where) == count


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(text=rulesets(), seed=st.integers(0, 2**32))
def test_generated_rulesets_agree(text: str, seed: int, tmp_path: Path) -> None:
    """Every construct: lets with division by zero, levels, sets, flags, optional
    defaults, both policies (an ambiguous row is refused), labels."""
    _generated_agree(text, seed, 2_000, tmp_path)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(text=rulesets(), seed=st.integers(0, 2**32))
def test_generated_rulesets_agree_on_100000_accounts_each(
    text: str, seed: int, tmp_path: Path
) -> None:
    _generated_agree(text, seed, 100_000, tmp_path)


@pytest.mark.parametrize("policy", ["first", "unique"])
def test_every_construct_agrees_on_100000_boundary_accounts(policy: str, tmp_path: Path) -> None:
    """The ruleset of every construct (tests/typed_rules.py), under both policies."""
    text = EVERY_CONSTRUCT.replace("policy first", f"policy {policy}")
    ruleset = Ruleset(check_source(Source(text, "every.tiers"), analyse=False))
    rnd = random.Random(policy)
    rows = [
        {name: boundary_value(decl.type, rnd) for name, decl in ruleset.checked.inputs.items()}
        for _ in range(100_000)
    ]
    assert assert_same_answers(ruleset, rows, tmp_path) == 100_000


def test_a_bad_row_names_each_bad_field(tmp_path: Path) -> None:
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    rows = [{"followers": -5.0, "engagement_rate": None, "topics": [], "platform": "x"}]
    connection = duckdb.connect()
    load_table(connection, ruleset, rows, tmp_path)
    [(tier, error)] = (
        classify_table(connection, ruleset, "accounts").select("tier, error").fetchall()
    )
    assert tier is None
    assert error == (
        "invalid account: followers: expected a count (a whole number, 0 or more), got -5; "
        "engagement_rate: missing, expected a percentage as a fraction (0.042 is 4.2%)"
    )


RANGED = """ruleset ranged
input rate: percent
input growth: percent at least -50%
input reach: percent at most 1000% optional default 0%
input share: percent between -100% and 1000% optional default 0%
input followers: count at most 10M
input score: number above -1 optional default 0
tier shrinking when growth below 0%
tier engaged when rate at least 3.5%
otherwise other
"""


def ranged_rows() -> list[dict[str, Any]]:
    """Each input of RANGED on, beside and past its range, and the unit mistakes."""
    rnd = random.Random("ranged")
    edges = [0.0, 1.0, -0.5, -1.0, 10.0, 10.5, -0.5000001, 1.0000001, 0.035, 4.2]
    pick = BAD_PERCENTS + edges
    return [
        {
            "rate": rnd.choice(pick),
            "growth": rnd.choice(pick),
            "reach": rnd.choice([*pick, None]),
            "share": rnd.choice([*pick, None]),
            "followers": rnd.choice([0.0, 10e6, 10e6 + 1, 45_000.0, -1.0, 2.5]),
            "score": rnd.choice([-1.0, -0.999, 0.0, None, float("inf")]),
        }
        for _ in range(3_000)
    ]


def test_out_of_range_rows_say_what_python_says_word_for_word(tmp_path: Path) -> None:
    """Declared ranges (a side left open keeps 0% or 100%) and the default 0%..100%:
    every refused row's `error` is the Python API's message, character for character."""
    ruleset = load_ruleset(text=RANGED)
    rows = ranged_rows()
    assert assert_same_answers(ruleset, rows, tmp_path) == len(rows)
    said = [python_answer(ruleset, row)[3] for row in rows]
    assert sum(s is not None for s in said) > 1000
    assert any(s and "a percentage is a fraction: 4.2% is 0.042" in s for s in said)
    assert any(s and "at least -50% (and at most 100%), got 1.0000001" in s for s in said)


def test_fractions_compare_as_doubles_at_the_bound(tmp_path: Path) -> None:
    """0.035 against 3.5%: a double literal, as Python's float, never a decimal."""
    ruleset = load_ruleset(
        text="input rate: percent\ntier high when rate at least 3.5%\notherwise low\n"
    )
    connection = duckdb.connect()
    rows = [{"rate": r} for r in (0.035, 0.0349999999999999, math.nextafter(0.035, 1))]
    load_table(connection, ruleset, rows, tmp_path)
    tiers = [
        t
        for (t,) in classify_table(connection, ruleset, "accounts")
        .order("row")
        .select("tier")
        .fetchall()
    ]
    assert tiers == ["high", "low", "high"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_writes_every_shipped_ruleset(dialect: str) -> None:
    for path in sorted(RULES.glob("*.tiers")):
        query = compile_sql(load_ruleset(path).checked, dialect, "accounts")
        sqlglot.parse_one(query, read=dialect)  # raises ParseError if it does not read back


def test_a_map_to_an_unknown_input_is_refused() -> None:
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    with pytest.raises(SqlError, match="folowers, which the rules do not declare"):
        compile_sql(ruleset.checked, "duckdb", "accounts", {"folowers": "f"})


def test_tierline_sql_prints_a_query_that_runs_with_mapped_columns() -> None:
    done = tierline("sql", str(RULES / "synthesis.tiers"), "--table", "export",
                    "--map", "followers=follower_count")  # fmt: skip
    assert done.returncode == 0, done.stderr
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE export AS SELECT 45000 AS follower_count, 0.042 AS engagement_rate, "
        "['fashion'] AS topics, 'instagram' AS platform, NULL::DOUBLE AS fake_follower_ratio"
    )
    [(tier, labels, rule, error)] = (
        connection.sql(done.stdout.rstrip().rstrip(";"))
        .select("tier, labels, rule, error")
        .fetchall()
    )
    assert (tier, labels, rule, error) == ("micro", ["fashion_expert"], "micro", None)


def test_an_absent_optional_input_takes_its_default(tmp_path: Path) -> None:
    """--absent: a table without a column for fake_follower_ratio classifies as the
    Python API classifies accounts without the field, on 20,000 boundary rows."""
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    rnd = random.Random("absent")
    inputs = {n: d for n, d in ruleset.checked.inputs.items() if n != "fake_follower_ratio"}
    rows = [{n: boundary_value(d.type, rnd) for n, d in inputs.items()} for _ in range(20_000)]
    path = tmp_path / "accounts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = "{" + ", ".join(f"'{n}': '{SQL_TYPES[d.type]}'" for n, d in inputs.items()) + "}"
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE export AS SELECT row_number() OVER () AS row, * FROM "
        f"read_json('{path}', columns = {spec}, format = 'newline_delimited')"
    )
    done = tierline("sql", str(RULES / "synthesis.tiers"), "--table", "export",
                    "--absent", "fake_follower_ratio")  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = (
        connection.sql(done.stdout.rstrip().rstrip(";"))
        .order("row")
        .select("tier, labels, rule, error")
        .fetchall()
    )
    assert [tuple(g) for g in got] == [python_answer(ruleset, row) for row in rows]


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["--absent", "followers"], 1, "--absent followers: the rules require followers"),
        (["--absent", "folowers"], 1, "--absent names folowers, which the rules do not declare"),
        (
            ["--absent", "fake_follower_ratio", "--map", "fake_follower_ratio=f"],
            1,
            "fake_follower_ratio is both mapped to a column (--map) and --absent",
        ),
        (["--map", "folowers=f"], 1, "--map names folowers, which the rules do not declare"),
        (["--map", "followers"], 2, "--map followers: expected INPUT=COLUMN"),
        (["--dialect", "oracle"], 2, "invalid choice: 'oracle'"),
    ],
)
def test_tierline_sql_refuses_bad_requests(args: list[str], code: int, said: str) -> None:
    done = tierline("sql", str(RULES / "synthesis.tiers"), *args)
    assert done.returncode == code and said in done.stderr, done.stderr


WHOLE = """ruleset whole
input a: count
input b: count
input c: count at most 1000
let product = a * b
let spread = b - a
let scaled = (a + b) * c
tier over when product above 9_007_199_254_740_992 and c < 10
tier under when spread < -9_007_199_254_740_993
tier wide when scaled at least 9_223_372_036_854_775_809_000
tier sum when a + b == 18_014_398_509_481_985
tier square when a * a above 9_007_199_515_875_288 and a < 94_906_268
otherwise rest
"""
BIG = [0, 1, 2, 9, 2**53 - 1, 2**53, 2**53 + 1, 2**62, 2**62 + 1, 2**63 - 2, 2**63 - 1,
       94_906_265, 94_906_266, 94_906_267, 9_007_199_254_740_993]  # fmt: skip


def whole_rows(count: int) -> list[dict[str, int]]:
    """Accounts for WHOLE: counts on and beside 2^53, 2^62 and 2^63 - 1 (BIGINT columns)."""
    rnd = random.Random("whole")
    return [
        {
            "a": rnd.choice(BIG) if rnd.random() < 0.8 else rnd.randint(0, 2**63 - 1),
            "b": rnd.choice(BIG) if rnd.random() < 0.8 else rnd.randint(0, 2**63 - 1),
            "c": rnd.choice([0, 1, 2, 9, 10, 999, 1000]),
        }
        for _ in range(count)
    ]


def test_whole_number_arithmetic_is_exact_past_2_53() -> None:
    """Counts under +, - and * are ints in Python, exact at any size; in SQL they are
    DECIMAL(38, 0), not doubles, which would round them past 2^53 (on BIGINT columns)."""
    ruleset = load_ruleset(text=WHOLE)
    rows = whole_rows(20_000)
    connection = duckdb.connect()
    connection.execute("CREATE TABLE accounts (row BIGINT, a BIGINT, b BIGINT, c BIGINT)")
    connection.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?, ?)",
        [(n, r["a"], r["b"], r["c"]) for n, r in enumerate(rows)],
    )
    got = classify_table(connection, ruleset, "accounts").order("row").select("tier").fetchall()
    expected = [python_answer(ruleset, row)[0] for row in rows]
    assert [tier for (tier,) in got] == expected
    assert {"over", "under", "wide", "sum", "square", "rest"} <= set(expected)


def unchecked(text: str) -> Ruleset:
    """A ruleset loaded past the analysis: under policy unique, WHOLE's tiers overlap."""
    return Ruleset(check_source(Source(text, "whole.tiers"), analyse=False))


BAD_COUNTS = [float("inf"), float("-inf"), float("nan"), 1e300, -1e300, 2.5, -1.0, 2.0**63]


@pytest.mark.parametrize("policy", ["first", "unique"])
def test_bad_count_cells_under_whole_arithmetic_are_refused_rows(policy: str) -> None:
    """A count cell that cannot be a count (infinite, NaN, past 2^63, fractional) is
    a refused row, never a failed query, although its arithmetic casts to DECIMAL; its
    `error` is the Python API's message for the same values, word for word."""
    ruleset = unchecked(WHOLE.replace("ruleset whole", f"ruleset whole\npolicy {policy}"))
    connection = duckdb.connect()
    connection.execute("CREATE TABLE accounts (row BIGINT, a DOUBLE, b DOUBLE, c DOUBLE)")
    rows = bad_count_rows()
    connection.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?, ?)",
        [(n, r["a"], r["b"], r["c"]) for n, r in enumerate(rows)],
    )
    got = classify_table(connection, ruleset, "accounts").order("row").select("tier, error")
    assert got.fetchall() == [(None, python_answer(ruleset, row)[3]) for row in rows]


def bad_count_rows() -> list[dict[str, float]]:
    """Each of BAD_COUNTS in the first count and in the ranged one (c), the rest 1."""
    return [{"a": bad, "b": 1.0, "c": 1.0} for bad in BAD_COUNTS] + [
        {"a": 1.0, "b": 1.0, "c": bad} for bad in BAD_COUNTS
    ]


def test_the_kept_checks_of_the_inputs_give_the_same_sql() -> None:
    """The checks of the inputs are built once per declaration and copied after, and the
    error column's SQL is kept (`_Builder._validation`, `result_columns`: the studio
    compiles every keystroke): every dialect's query and columns are the same as when
    built anew, a changed range or default is not served the old checks, `policy
    unique` (its tiers in the error) and lets (the refusal a helper column) included."""
    import engine.sql.compile as compiled

    base = (RULES / "synthesis.tiers").read_text(encoding="utf-8")
    texts = [
        base,
        base.replace("3.5%", "3%"),  # the same inputs: served from what is kept
        base.replace("optional default 0%", "optional default 5%"),  # another default
        base.replace("input followers: count", "input followers: count at most 1M"),
        base.replace("policy first", "policy unique"),
        base.replace("tier mega ", "let twice = followers * 2\ntier mega "),
    ]
    assert len(set(texts)) == len(texts)
    rulesets = [check_source(Source(t, "synthesis.tiers"), analyse=False) for t in texts]

    def both(checked: Any, dialect: str) -> tuple[str, Any]:
        query = compile_sql(checked, dialect, unreadable={"followers": "bad"})
        return query, result_columns(checked, dialect, unreadable={"followers": "bad"})

    fresh = {}
    for dialect in DIALECTS:
        for i, checked in enumerate(rulesets):
            compiled._VALIDATION.clear()
            compiled._ERRORS.clear()
            fresh[dialect, i] = both(checked, dialect)
    for _ in range(2):
        for dialect in DIALECTS:
            for i, checked in enumerate(rulesets):
                assert both(checked, dialect) == fresh[dialect, i], (dialect, i)
    errors = [fresh["duckdb", i][1].results["error"] for i in range(len(texts))]
    assert errors[0] == errors[1] and len({errors[0], errors[2], errors[3], errors[4]}) == 4
