"""DuckDB and Spark run one description of a table's staging and of the joint pass
(tierline/tables/plan.py): the same hidden columns, and SQL that differs only in the
dialect it is written in. (tests/test_spark.py runs both engines on the same files
and compares their outputs; this checks, without Spark, that the plan is shared.)"""

from __future__ import annotations

import functools

import sqlglot

from engine import load_ruleset
from engine.checker.model import Input
from tests.conftest import RULES
from tierline.tables.columns import inputs_of
from tierline.tables.plan import JointPlan, StagePlan, plan_joint, plan_stage, quoted

HEADER = ["id", "followers", "engagement_rate", "topics", "category_2", "platform", "note"]


def _text_only(_decl: Input, column: str) -> tuple[str, str | None]:
    raise AssertionError(f"a CSV's cells are read by cells.py, not as typed ({column})")


@functools.cache
def _plans(dialect: str) -> tuple[StagePlan, JointPlan]:
    rulesets = [load_ruleset(RULES / "synthesis.tiers").checked]
    rulesets.append(load_ruleset(RULES / "mavrck.tiers").checked)
    declared = inputs_of(rulesets)
    mapping = {"topics": "topics,category_2"}
    staged = plan_stage(dialect, declared, HEADER, "csv", mapping, None, _text_only)
    return staged, plan_joint(dialect, rulesets, declared, staged, examples=3, labels=True)


def _same(duckdb_sql: str, spark_sql: str) -> bool:
    """DuckDB's SQL, written for Spark by sqlglot, is Spark's (as parsed by sqlglot)."""
    written = sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]
    return sqlglot.parse_one(written, read="spark") == sqlglot.parse_one(spark_sql, read="spark")


def test_duckdb_and_spark_stage_a_table_by_one_plan() -> None:
    duck, spark = _plans("duckdb")[0], _plans("spark")[0]
    assert [name for _sql, name in duck.selected] == [name for _sql, name in spark.selected]
    assert duck.columns == spark.columns
    assert {"followers", "engagement_rate", "topics", "platform"} <= set(duck.columns)
    assert all(column == f"__in_{name}" for name, column in duck.columns.items())
    assert duck.unreadable == spark.unreadable
    assert set(duck.unreadable) == {"followers", "engagement_rate", "topics"}  # not text
    assert (duck.id_column, duck.id_name) == (spark.id_column, spark.id_name) == ("id", "id")
    for (duck_sql, name), (spark_sql, _name) in zip(duck.selected, spark.selected, strict=True):
        if not name.endswith("_topics"):  # a set's JSON reading: cells.py's one piece per dialect
            assert _same(duck_sql, spark_sql), name
    assert duck.keep is not None and spark.keep is not None and _same(duck.keep, spark.keep)
    assert quoted("a`b", "spark") == "`a``b`" and quoted('a"b', "duckdb") == '"a""b"'


def test_duckdb_and_spark_pass_several_rulesets_by_one_plan() -> None:
    duck, spark = _plans("duckdb")[1], _plans("spark")[1]
    assert [n for _s, n in duck.sides] == [n for _s, n in spark.sides]
    assert [n for _s, n in duck.sides][:2] == ["__id", "__h"]
    assert duck.groups == spark.groups == ["__o0", "__o1", "__l0", "__l1"]
    assert duck.account == spark.account
    assert duck.errors == spark.errors == [("e0", "__error_0"), ("e1", "__error_1")]
    assert [list(layer) for layer in duck.layers] == [list(layer) for layer in spark.layers]
    for (duck_sql, name), (spark_sql, _name) in zip(duck.keys, spark.keys, strict=True):
        assert _same(duck_sql, spark_sql), name
