"""The postgres dialect run on a real PostgreSQL server (tests/postgres.py): the query
of `tierline sql --dialect postgres` gives the Python evaluator's answers row by row,
tier, labels, rule and whether the row is refused, as DuckDB's does (test_sql.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Ruleset, load_ruleset
from engine.language.ast import TypeName
from engine.language.source import Source
from engine.load import check_source
from engine.sql.compile import compile_sql
from tests.conftest import RULES, tierline
from tests.postgres import postgres_server
from tests.test_sql import (
    RANGED,
    WHOLE,
    bad_count_rows,
    boundary_value,
    normalised,
    python_answer,
    ranged_rows,
    unchecked,
    whole_rows,
)
from tests.typed_rules import EVERY_CONSTRUCT, rulesets

psycopg = pytest.importorskip("psycopg")

T = TypeName
PG_TYPES = {
    T.COUNT: "double precision",  # as in test_sql: so that -5 and 2.5 can be refused
    T.NUMBER: "double precision",
    T.PERCENT: "double precision",
    T.TEXT: "text",
    T.FLAG: "boolean",
    T.TEXT_SET: "text[]",
}


@pytest.fixture(scope="module")
def database() -> Iterator[Any]:
    with postgres_server() as conninfo, psycopg.connect(conninfo, autocommit=True) as connection:
        yield connection


def _answers(database: Any, ruleset: Ruleset, rows: list[dict[str, Any]]) -> int:
    """Loads `rows` as the table accounts, runs the postgres query and compares."""
    inputs = ruleset.checked.inputs
    columns = ", ".join(f'"{name}" {PG_TYPES[d.type]}' for name, d in inputs.items())
    names = ", ".join(f'"{name}"' for name in inputs)
    with database.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS accounts")
        cursor.execute(f"CREATE TABLE accounts (n bigint, {columns})")
        with cursor.copy(f"COPY accounts (n, {names}) FROM STDIN") as copy:
            copy.set_types(["int8", *(PG_TYPES[d.type] for d in inputs.values())])
            for n, row in enumerate(rows):
                copy.write_row([n, *(row.get(name) for name in inputs)])
        query = compile_sql(ruleset.checked, "postgres", "accounts")
        cursor.execute(f"SELECT n, tier, labels, rule, error FROM ({query}) AS q ORDER BY n")
        got = cursor.fetchall()
    assert len(got) == len(rows)
    for (n, tier, labels, rule, error), row in zip(got, rows, strict=True):
        tier_, labels_, rule_, said = python_answer(ruleset, row)
        assert (tier, labels, rule) == (tier_, labels_, rule_), (n, row, error)
        assert normalised(error) == normalised(said), (n, row)
    return len(got)


def _boundary_rows(ruleset: Ruleset, seed: object, count: int) -> list[dict[str, Any]]:
    rnd = random.Random(str(seed))
    inputs = ruleset.checked.inputs.items()
    return [{name: boundary_value(d.type, rnd) for name, d in inputs} for _ in range(count)]


@pytest.mark.parametrize("path", sorted(RULES.glob("*.tiers")), ids=lambda p: p.stem)
def test_shipped_rulesets_agree_on_postgres(database: Any, path: Path) -> None:
    ruleset = load_ruleset(path)
    assert _answers(database, ruleset, _boundary_rows(ruleset, path.stem, 20_000)) == 20_000


@pytest.mark.parametrize("policy", ["first", "unique"])
def test_every_construct_agrees_on_postgres(database: Any, policy: str) -> None:
    text = EVERY_CONSTRUCT.replace("policy first", f"policy {policy}")
    ruleset = Ruleset(check_source(Source(text, "every.tiers"), analyse=False))
    assert _answers(database, ruleset, _boundary_rows(ruleset, policy, 50_000)) == 50_000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(text=rulesets(), seed=st.integers(0, 2**32))
def test_generated_rulesets_agree_on_postgres(database: Any, text: str, seed: int) -> None:
    """Lets with division by zero, levels, sets, flags, optional defaults, both
    policies, labels: each generated ruleset on 2,000 boundary-heavy rows."""
    ruleset = Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))
    assert _answers(database, ruleset, _boundary_rows(ruleset, seed, 2_000)) == 2_000


def test_out_of_range_rows_say_what_python_says_on_postgres(database: Any) -> None:
    """The error texts of test_sql's declared and default ranges, numbers normalised."""
    rows = ranged_rows()
    assert _answers(database, load_ruleset(text=RANGED), rows) == len(rows)


def test_a_bad_row_names_each_bad_field_on_postgres(database: Any) -> None:
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    row = {"followers": -5.0, "engagement_rate": None, "topics": [], "platform": "x"}
    _answers(database, ruleset, [row])
    query = compile_sql(ruleset.checked, "postgres", "accounts")
    with database.cursor() as cursor:
        cursor.execute(f"SELECT tier, error FROM ({query}) AS q")
        [(tier, error)] = cursor.fetchall()
    assert tier is None
    assert error == (
        "invalid account: followers: expected a count (a whole number, 0 or more), got -5; "
        "engagement_rate: missing, expected a percentage as a fraction (0.042 is 4.2%)"
    )


def test_tierline_sql_output_runs_on_postgres(database: Any, tmp_path: Path) -> None:
    """The CLI's text, with --map, as a warehouse user would paste it."""
    ruleset = load_ruleset(RULES / "synthesis.tiers")
    rows = _boundary_rows(ruleset, "cli", 500)
    _answers(database, ruleset, rows)
    with database.cursor() as cursor:
        cursor.execute('ALTER TABLE accounts RENAME COLUMN "followers" TO follower_count')
    done = tierline("sql", str(RULES / "synthesis.tiers"), "--dialect", "postgres",
                    "--table", "accounts", "--map", "followers=follower_count")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with database.cursor() as cursor:
        cursor.execute(f"SELECT n, tier FROM ({done.stdout.rstrip().rstrip(';')}) AS q ORDER BY n")
        tiers = [tier for _n, tier in cursor.fetchall()]
    assert tiers == [python_answer(ruleset, row)[0] for row in rows]


def test_whole_number_arithmetic_is_exact_on_postgres(database: Any) -> None:
    """Counts past 2^53 in bigint columns: products and sums as DECIMAL(38, 0)."""
    ruleset = load_ruleset(text=WHOLE)
    rows = whole_rows(5_000)
    with database.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS accounts")
        cursor.execute("CREATE TABLE accounts (n bigint, a bigint, b bigint, c bigint)")
        with cursor.copy("COPY accounts (n, a, b, c) FROM STDIN") as copy:
            for n, row in enumerate(rows):
                copy.write_row([n, row["a"], row["b"], row["c"]])
        query = compile_sql(ruleset.checked, "postgres", "accounts")
        cursor.execute(f"SELECT tier FROM ({query}) AS q ORDER BY n")
        tiers = [tier for (tier,) in cursor.fetchall()]
    assert tiers == [python_answer(ruleset, row)[0] for row in rows]


@pytest.mark.parametrize("policy", ["first", "unique"])
def test_bad_count_cells_are_refused_rows_on_postgres(database: Any, policy: str) -> None:
    """As on DuckDB (test_sql): infinite, NaN, huge and fractional counts under
    whole-number arithmetic are refused rows, not a failed query, each with the Python
    API's message (numbers normalised: see test_sql.normalised)."""
    ruleset = unchecked(WHOLE.replace("ruleset whole", f"ruleset whole\npolicy {policy}"))
    rows = bad_count_rows()
    with database.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS accounts")
        cursor.execute("CREATE TABLE accounts (n bigint, a float8, b float8, c float8)")
        cursor.executemany(
            "INSERT INTO accounts VALUES (%s, %s, %s, %s)",
            [(n, r["a"], r["b"], r["c"]) for n, r in enumerate(rows)],
        )
        query = compile_sql(ruleset.checked, "postgres", "accounts")
        cursor.execute(f"SELECT tier, error FROM ({query}) AS q ORDER BY n")
        got = [(tier, normalised(error)) for tier, error in cursor.fetchall()]
    assert got == [(None, normalised(python_answer(ruleset, row)[3])) for row in rows]


def test_tierline_sql_with_several_set_columns_runs_on_postgres(database: Any) -> None:
    """`--map topics=category_1,category_2` in the postgres dialect: the union of two
    text[] columns (NULL in one adds nothing; NULL in both is a missing input)."""
    from tests.test_map import expected

    done = tierline("sql", str(RULES / "synthesis.tiers"), "--dialect", "postgres",
                    "--map", "topics=category_1,category_2",
                    "--absent", "fake_follower_ratio")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with database.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS accounts")
        cursor.execute(
            "CREATE TABLE accounts AS SELECT * FROM (VALUES "
            "('a', ARRAY['tech'], NULL::text[]), ('b', NULL, ARRAY['fashion']), "
            "('c', ARRAY[]::text[], ARRAY['gaming', 'x']), ('d', NULL, NULL)) "
            "AS t(id, category_1, category_2)"
        )
        cursor.execute(
            "ALTER TABLE accounts ADD COLUMN followers bigint DEFAULT 45000, "
            "ADD COLUMN engagement_rate double precision DEFAULT 0.042, "
            "ADD COLUMN platform text DEFAULT 'instagram'"
        )
        query = done.stdout.rstrip().rstrip(";")
        cursor.execute(f"SELECT id, tier, labels FROM ({query}) AS q ORDER BY id")
        got = cursor.fetchall()
    unions = {"a": ["tech"], "b": ["fashion"], "c": ["gaming", "x"]}
    assert got[:3] == [expected(i, topics) for i, topics in unions.items()]
    assert got[3] == ("d", None, None)
