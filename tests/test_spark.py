"""The rules as Spark SQL expressions, in Spark's local mode, give the Python
evaluator's answers row by row (tables/spark.py: `with_tiers`)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Ruleset, load_ruleset
from engine.language.ast import TypeName
from engine.language.source import Source
from engine.load import check_source
from tests.conftest import RULES, tierline
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
from tests.typed_rules import EVERY_CONSTRUCT

pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is the `spark` extra: make test installs it"
)
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as S  # noqa: E402

from tierline.tables.spark import local_session, with_tiers  # noqa: E402

T = TypeName
SPARK_TYPES = {
    T.COUNT: S.DoubleType(),  # a double column, so that -1 and 2.5 are refused as in Python
    T.NUMBER: S.DoubleType(),
    T.PERCENT: S.DoubleType(),
    T.TEXT: S.StringType(),
    T.FLAG: S.BooleanType(),
    T.TEXT_SET: S.ArrayType(S.StringType()),
}

pytestmark = pytest.mark.slow  # a JVM each session: make test-slow and CI run these


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = local_session("local[2]", "tierline-tests", progress=False)
    yield session
    session.stop()


def _agree(spark: SparkSession, ruleset: Ruleset, count: int, seed: str) -> int:
    inputs = ruleset.checked.inputs
    rnd = random.Random(seed)
    rows = [
        tuple([n, *(boundary_value(decl.type, rnd) for decl in inputs.values())])
        for n in range(count)
    ]
    schema = S.StructType(
        [S.StructField("row", S.LongType())]
        + [S.StructField(name, SPARK_TYPES[decl.type]) for name, decl in inputs.items()]
    )
    df = with_tiers(spark.createDataFrame(rows, schema), ruleset)
    checked = 0
    for got in df.orderBy("row").collect():
        values: dict[str, Any] = got.asDict()
        row = {name: values[name] for name in inputs}
        labels = list(values["labels"]) if values["labels"] is not None else None
        tier, labels_, rule, said = python_answer(ruleset, row)
        assert (values["tier"], labels, values["rule"]) == (tier, labels_, rule), row
        assert normalised(values["error"]) == normalised(said), row
        checked += 1
    return checked


@pytest.mark.parametrize("path", sorted(RULES.glob("*.tiers")), ids=lambda p: p.stem)
def test_shipped_rulesets_agree_on_spark(spark: SparkSession, path: Path) -> None:
    assert _agree(spark, load_ruleset(path), 10_000, path.stem) == 10_000


def test_every_construct_agrees_on_spark(spark: SparkSession) -> None:
    """Lets with division by zero, levels, sets, flags, optional defaults, labels,
    and policy unique refusing an ambiguous row."""
    for policy in ("first", "unique"):
        text = EVERY_CONSTRUCT.replace("policy first", f"policy {policy}")
        ruleset = Ruleset(check_source(Source(text, "typed.tiers"), analyse=False))
        assert _agree(spark, ruleset, 10_000, policy) == 10_000


def test_out_of_range_rows_say_what_python_says_on_spark(spark: SparkSession) -> None:
    """The error texts of test_sql's declared and default ranges, numbers normalised."""
    ruleset = load_ruleset(text=RANGED)
    inputs = ruleset.checked.inputs
    rows = ranged_rows()
    schema = S.StructType(
        [S.StructField("row", S.LongType())]
        + [S.StructField(name, SPARK_TYPES[decl.type]) for name, decl in inputs.items()]
    )
    data = [(n, *(row[name] for name in inputs)) for n, row in enumerate(rows)]
    df = with_tiers(spark.createDataFrame(data, schema), ruleset)
    got = df.orderBy("row").collect()
    assert len(got) == len(rows)
    for values, row in zip(got, rows, strict=True):
        tier, _labels, rule, said = python_answer(ruleset, row)
        assert (values["tier"], values["rule"]) == (tier, rule), row
        assert normalised(values["error"]) == normalised(said), row


def test_whole_number_arithmetic_is_exact_on_spark(spark: SparkSession) -> None:
    """Counts past 2^53 in long columns: products and sums as DECIMAL(38, 0)."""
    ruleset = load_ruleset(text=WHOLE)
    rows = whole_rows(2_000)
    schema = S.StructType([S.StructField(n, S.LongType()) for n in ("row", "a", "b", "c")])
    data = [(n, r["a"], r["b"], r["c"]) for n, r in enumerate(rows)]
    df = with_tiers(spark.createDataFrame(data, schema), ruleset)
    tiers = [got["tier"] for got in df.orderBy("row").collect()]
    assert tiers == [python_answer(ruleset, row)[0] for row in rows]


def test_bad_count_cells_are_refused_rows_on_spark(spark: SparkSession) -> None:
    """As on DuckDB (test_sql), under both policies: ANSI mode must not fail the job,
    and each row's error is the Python API's message (numbers normalised)."""
    schema = S.StructType(
        [S.StructField("n", S.LongType())]
        + [S.StructField(c, S.DoubleType()) for c in ("a", "b", "c")]
    )
    rows = bad_count_rows()
    data = [(n, r["a"], r["b"], r["c"]) for n, r in enumerate(rows)]
    for policy in ("first", "unique"):
        ruleset = unchecked(WHOLE.replace("ruleset whole", f"ruleset whole\npolicy {policy}"))
        df = with_tiers(spark.createDataFrame(data, schema), ruleset)
        got = [(r["tier"], normalised(r["error"])) for r in df.orderBy("n").collect()]
        said = [normalised(python_answer(ruleset, row)[3]) for row in rows]
        assert got == [(None, error) for error in said], got


def test_tierline_classify_runs_on_spark(tmp_path: Path) -> None:
    import duckdb

    source = tmp_path / "accounts.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES ('a', 45000, 0.042, ['fashion'], 'instagram'), "
        "('b', -5, 0.01, [], 'tiktok')) AS t(id, followers, engagement_rate, topics, platform)"
    ).write_parquet(str(source))
    out = tmp_path / "tiers.parquet"
    done = tierline(
        "classify",
        str(RULES / "synthesis.tiers"),
        str(source),
        "-o",
        str(out),
        "--engine",
        "spark",
        "--master",
        "local[1]",
    )
    assert done.returncode == 1, done.stderr  # one row is refused
    got = duckdb.sql(f"SELECT id, tier, labels, error FROM '{out}/*.parquet' ORDER BY id")
    refused = {"followers": -5, "engagement_rate": 0.01, "topics": [], "platform": "tiktok"}
    said = python_answer(load_ruleset(RULES / "synthesis.tiers"), refused)[3]
    assert said is not None and said.startswith("invalid account: followers:")
    assert got.fetchall() == [("a", "micro", ["fashion_expert"], None), ("b", None, None, said)]
    assert "2 rows" in done.stderr and "1 with errors" in done.stderr


def test_spark_reads_text_cells_as_duckdb_does(tmp_path: Path) -> None:
    """The same CSV (abbreviations, separators, percents, sets, a bad cell, a drawn
    line, a repeated header) classified on both engines gives the same rows."""
    import duckdb

    source = tmp_path / "export.csv"
    source.write_text(
        "id,followers,followers,engagement_rate,topics,platform\n"
        "=====,,,,,\n"
        "a,x,45k,4.2%,fashion,instagram\n"
        'b,x,"1,200",0.5%,tech;gaming,tiktok\n'
        'c,x,475.8m,1.39%,"[""tech""]",youtube\n'
        "d,x,12_000,0.035,,instagram\n"
        "e,x,45k!,1%,,instagram\n"
        "f,x,,1%,,instagram\n"
    )
    outputs = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / f"{engine}.csv"
        done = tierline(
            "classify",
            str(RULES / "synthesis.tiers"),
            str(source),
            "-o",
            str(out),
            "--map",
            "followers=followers_1",
            "--engine",
            engine,
            "--master",
            "local[1]",
        )
        assert done.returncode == 1, done.stderr  # rows e and f are refused
        where = f"{out}/*.csv" if out.is_dir() else str(out)
        outputs[engine] = duckdb.sql(
            f"SELECT id, tier, labels, error FROM read_csv('{where}', all_varchar = true) "
            "ORDER BY id"
        ).fetchall()
    assert outputs["duckdb"] == outputs["spark"]
    assert [row[1] for row in outputs["spark"]] == ["micro", "nano", "mega", "micro", None, None]


CASES = Path(__file__).parent / "cases"


def _on_both_engines(*args: str) -> dict[str, dict[str, Any]]:
    """The JSON report of `tierline ARGS` on DuckDB and on Spark (local[1])."""
    import json

    got = {}
    for engine in ("duckdb", "spark"):
        done = tierline(*args, "--format", "json", "--engine", engine, "--master", "local[1]")
        assert done.returncode == 0, done.stderr
        got[engine] = json.loads(done.stdout)
    return got


def test_diff_on_spark_gives_duckdbs_matrix_and_replays_its_examples() -> None:
    """The hand-made diff case (text cells, a refused row, label changes) on both engines:
    the same matrix and label counts; Spark's examples, replayed in Python, in their cells."""

    folder = CASES / "diff" / "floor_lowered"
    got = _on_both_engines(
        "diff",
        str(folder / "old.tiers"),
        str(folder / "new.tiers"),
        "--data",
        str(folder / "accounts.csv"),
    )
    for key in ("rows", "matrix", "labels", "changed", "relabelled"):
        assert got["spark"][key] == got["duckdb"][key], key
    cells = {(e["from"], e["to"]) for e in got["spark"]["examples"]}
    assert cells == {("nano", "micro"), ("", "")}
    for example in got["spark"]["examples"]:
        assert (example["old"]["tier"], example["new"]["tier"]) == (example["from"], example["to"])


def test_compare_on_spark_counts_as_duckdb_does(tmp_path: Path) -> None:

    import duckdb

    rows = [(f"r{i}", i * 997 % 3_000_000, (i * 7 % 90) / 1000) for i in range(2_000)]
    source = tmp_path / "accounts.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES "
        + ", ".join(f"('{a}', {b}, {c})" for a, b, c in rows)
        + ") AS t(id, followers, engagement_rate)"
    ).write_parquet(str(source))
    defs = sorted(
        str(p)
        for p in (Path(__file__).parent.parent / "definitions/followers_only").glob("*.tiers")
    )
    got = _on_both_engines("compare", *defs, "--data", str(source))
    assert got["spark"]["counts"] == got["duckdb"]["counts"]
    assert got["spark"]["agreement"]["focus"] == got["duckdb"]["agreement"]["focus"]
    pairs = {
        engine: [
            {k: v for k, v in p.items() if k != "cross"} | {"cross": sorted(p["cross"], key=str)}
            for p in g["agreement"]["pairs"]
        ]
        for engine, g in got.items()
    }
    assert pairs["spark"] == pairs["duckdb"]


def test_a_set_from_several_columns_on_spark_as_on_duckdb(tmp_path: Path) -> None:
    """`--map topics=category_1,category_2` (`a;b`, JSON arrays, empty cells) on Spark:
    the rows DuckDB gives, which are the Python evaluator's."""
    import duckdb

    from tests.test_map import SPLIT, expected, split_csv

    source = split_csv(tmp_path)
    outputs = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / f"{engine}.csv"
        done = tierline("classify", str(RULES / "synthesis.tiers"), str(source), "-o", str(out),
                        "--map", "topics=category_1,category_2", "--engine", engine,
                        "--master", "local[1]")  # fmt: skip
        assert done.returncode == 0, done.stderr
        where = f"{out}/*.csv" if out.is_dir() else str(out)
        outputs[engine] = duckdb.sql(
            f"SELECT id, tier, labels FROM read_csv('{where}', all_varchar = true) ORDER BY id"
        ).fetchall()
    assert outputs["duckdb"] == outputs["spark"]
    want = [expected(i, topics) for i, _one, _two, topics in SPLIT]
    assert outputs["spark"] == [(i, tier, ";".join(labels) or None) for i, tier, labels in want]


def test_tierline_sql_with_several_set_columns_runs_on_spark(spark: SparkSession) -> None:
    from tests.test_map import expected

    done = tierline("sql", str(RULES / "synthesis.tiers"), "--dialect", "spark",
                    "--map", "topics=category_1,category_2",
                    "--absent", "fake_follower_ratio")  # fmt: skip
    assert done.returncode == 0, done.stderr
    schema = S.StructType(
        [S.StructField("id", S.StringType()), S.StructField("followers", S.LongType()),
         S.StructField("engagement_rate", S.DoubleType()),
         S.StructField("category_1", S.ArrayType(S.StringType())),
         S.StructField("category_2", S.ArrayType(S.StringType())),
         S.StructField("platform", S.StringType())]
    )  # fmt: skip
    rows = [("a", ["tech"], None), ("b", None, ["fashion"]), ("c", [], ["gaming", "x"]),
            ("d", None, None)]  # fmt: skip
    table = [(i, 45_000, 0.042, one, two, "instagram") for i, one, two in rows]
    spark.createDataFrame(table, schema).createOrReplaceTempView("accounts")
    got = spark.sql(done.stdout.rstrip().rstrip(";")).orderBy("id").collect()
    answers = [(r["id"], r["tier"], r["labels"]) for r in got]
    unions = {"a": ["tech"], "b": ["fashion"], "c": ["gaming", "x"]}
    assert answers[:3] == [expected(i, topics) for i, topics in unions.items()]
    assert answers[3] == ("d", None, None)
