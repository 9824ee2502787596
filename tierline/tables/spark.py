"""The rules' SQL on Spark, as native expressions: no Python UDF, so the work
runs in the executors' JVMs, where the table is.

`with_tiers(df, ruleset)` adds `tier`, `labels`, `rule` and `error` to a
PySpark DataFrame whose columns hold the inputs (typed: numbers in numeric
columns, sets in array columns, as `tierline sql --dialect spark` expects).
For files (`--engine spark`: classify, compare, diff) the staging and the joint
pass are `plan.py`'s, the same as DuckDB's; this module only runs them as
DataFrame calls.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine import Ruleset
from engine.checker.model import CheckedRuleset, Input
from engine.sql.compile import result_columns
from engine.sql.layers import Columns
from tierline.tables.classify import Summary, beside, output_format
from tierline.tables.columns import inputs_of, required_by
from tierline.tables.joint import Joint, cell
from tierline.tables.plan import (
    COUNT,
    EXAMPLES,
    HASH,
    ID,
    StagePlan,
    plan_joint,
    plan_stage,
    quoted,
)
from tierline.tables.read import readable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession


def with_tiers(
    df: DataFrame, ruleset: Ruleset, columns: Mapping[str, str] | None = None
) -> DataFrame:
    """`df` with the four columns the rules add; `columns` maps an input to its column."""
    added = result_columns(ruleset.checked, "spark", columns)
    return _ruled(df, added).drop(*added.helpers)


def _layered(df: DataFrame, layers: Sequence[Mapping[str, str]]) -> DataFrame:
    """`df` with the helper columns the rules' columns read (each let, once per row),
    layer by layer: Spark keeps a column read twice as one column, never writes its
    expression out twice (engine/sql/layers.py)."""
    from pyspark.sql import functions as F

    for layer in layers:
        df = df.select("*", *(F.expr(sql).alias(name) for name, sql in layer.items()))
    return df


def _ruled(df: DataFrame, added: Columns) -> DataFrame:
    """`df` with the helpers and the four columns the rules add."""
    from pyspark.sql import functions as F

    results = (F.expr(sql).alias(name) for name, sql in added.results.items())
    return _layered(df, added.layers).select("*", *results)


def local_session(
    master: str = "local[*]", app: str = "tierline", progress: bool = True
) -> SparkSession:
    """A Spark session: local mode by default, or the cluster at `master`; `progress`
    shows Spark's stage bars on the console."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "true" if progress else "false")
    )
    if master.startswith("local"):  # the driver listens on loopback only
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    return builder.getOrCreate()


def classify_files_spark(
    ruleset: Ruleset,
    inputs: list[str],
    output: str,
    mapping: Mapping[str, str] | None = None,
    id_column: str | None = None,
    keep_columns: bool = False,
    master: str = "local[*]",
) -> Summary:
    """`tierline classify --engine spark`: the files read by Spark, text cells read as
    the DuckDB engine reads them (`cells.py`, written for Spark by sqlglot), the rules
    as Spark expressions, and Spark's own output: a folder of part files at OUTPUT."""

    started = time.perf_counter()
    out_kind = output_format(output)
    with readable(inputs) as (paths, kind):
        summary = _classify_spark(
            ruleset, paths, kind, output, out_kind, mapping, id_column, keep_columns, master
        )
    summary.seconds = time.perf_counter() - started
    return summary


def _classify_spark(
    ruleset: Ruleset,
    paths: list[str],
    kind: str,
    output: str,
    out_kind: str,
    mapping: Mapping[str, str] | None,
    id_column: str | None,
    keep_columns: bool,
    master: str,
) -> Summary:
    from pyspark.sql import functions as F

    spark = local_session(master)
    df, plan = _stage(spark, ruleset.checked.inputs, paths, kind, mapping or {}, id_column,
                      required_by([ruleset.checked]))  # fmt: skip
    ruled = _ruled(df, result_columns(ruleset.checked, "spark", plan.columns, plan.unreadable))
    kept = [n for n in plan.names if n != plan.id_name] if keep_columns else []
    result = ruled.select(F.col(ID).alias(plan.id_name), *kept, "tier", "labels", "rule", "error")
    if out_kind == "csv":
        result = result.withColumn("labels", F.array_join("labels", ";"))
    with beside(output) as partial:  # Spark's folder, renamed to OUTPUT once whole
        writer = result.write.mode("overwrite")
        if out_kind == "csv":
            writer.option("header", True).csv(partial)
        elif out_kind == "parquet":
            writer.parquet(partial)
        else:
            writer.json(partial)
        summary = Summary()
        counts = result.groupBy("tier", F.col("error").isNotNull().alias("bad")).count().collect()
        for row in counts:
            summary.add(row["tier"], row["bad"], row["count"])
    return summary


def _stage(
    spark: SparkSession,
    inputs: Mapping[str, Input],
    paths: list[str],
    kind: str,
    mapping: Mapping[str, str],
    id_column: str | None,
    needed_by: Mapping[str, Sequence[CheckedRuleset]],
) -> tuple[DataFrame, StagePlan]:
    """The files as a DataFrame staged as `plan.plan_stage` describes (typed columns of
    Parquet and JSON files are taken as they are), and the plan."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if kind == "parquet":
        df = spark.read.parquet(*paths)
    elif kind == "json":
        df = spark.read.json(paths)
    else:  # every cell a text, under the header DuckDB would give (`name_1` repeats);
        # a quote inside a quoted cell is doubled (`"[""tech""]"`), as DuckDB reads it
        header, delimiter = _header(paths[0], kind)
        df = spark.read.options(header=True, multiLine=True, sep=delimiter, escape='"').csv(paths)
        df = df.toDF(*header)

    def read_column(_decl: Input, column: str) -> tuple[str, str | None]:
        return quoted(column, "spark"), None

    plan = plan_stage("spark", inputs, df.columns, kind, mapping, id_column, read_column,
                      needed_by)  # fmt: skip
    if plan.keep is not None:
        df = df.where(plan.keep)
    df = df.selectExpr("*", *(f"{sql} AS {quoted(name, 'spark')}" for sql, name in plan.selected))
    if plan.id_column is None:  # the row number, in file order (one partition numbers them)
        number = F.row_number().over(Window.orderBy(F.monotonically_increasing_id()))
        return df.withColumn(ID, number), plan
    return df.withColumn(ID, F.col(quoted(plan.id_column, "spark"))), plan


def joint_spark(
    rulesets: list[CheckedRuleset],
    inputs: list[str],
    mapping: Mapping[str, str] | None = None,
    id_column: str | None = None,
    examples: int = 3,
    labels: bool = False,
    master: str = "local[*]",
) -> Joint:
    """`tables.joint.joint` on Spark: one job over the files; each cell's examples are
    its rows with the smallest xxhash64 of their id (so not DuckDB's examples)."""

    started = time.perf_counter()
    declared = inputs_of(rulesets)
    spark = local_session(master)
    with readable(inputs) as (paths, kind):
        found, id_name = _joint_rows(
            spark, rulesets, declared, paths, kind, mapping, id_column, examples, labels
        )
    rows = [_plain(row, examples > 0) for row in found]
    cells_found = [cell(row, len(rulesets), labels, declared) for row in rows]
    return Joint(sum(c.count for c in cells_found), cells_found, id_name,
                 time.perf_counter() - started)  # fmt: skip


def _joint_rows(
    spark: SparkSession,
    rulesets: list[CheckedRuleset],
    declared: Mapping[str, Input],
    paths: list[str],
    kind: str,
    mapping: Mapping[str, str] | None,
    id_column: str | None,
    examples: int,
    labels: bool,
) -> tuple[list[Row], str]:
    """The groups of `joint_spark`, collected from Spark, and the id column's name: the
    joint pass `plan.plan_joint` describes, as DataFrame calls; each group's examples
    are its rows of the smallest hash, ranked in a window."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df, staged = _stage(
        spark, declared, paths, kind, mapping or {}, id_column, required_by(rulesets)
    )
    plan = plan_joint("spark", rulesets, declared, staged, examples, labels)
    df = _layered(df, plan.layers)
    sided = df.select(*(F.expr(sql).alias(name) for sql, name in plan.sides))
    sided = sided.select("*", *(F.expr(sql).alias(name) for sql, name in plan.keys))
    aggregates = [F.count(F.lit(1)).alias(COUNT)]
    if plan.examples > 0:
        fields = [F.col(side).alias(name) for name, side in plan.account]
        account = F.struct(*fields) if fields else F.lit(None)
        errors = [F.col(side).alias(name) for name, side in plan.errors]
        rank = F.row_number().over(Window.partitionBy(*plan.groups).orderBy(HASH, ID))
        drawn = F.struct(F.col(ID).alias("id"), F.col(HASH).alias("h"),
                         account.alias("account"), *errors)  # fmt: skip
        sided = sided.withColumn("__drawn", F.when(rank <= plan.examples, drawn))
        aggregates.append(F.collect_list("__drawn").alias(EXAMPLES))
    return sided.groupBy(*plan.groups).agg(*aggregates).collect(), staged.id_name


def _plain(row: Row, drawn: bool) -> tuple[Any, ...]:
    """A Spark row as `joint.cell` takes DuckDB's: examples as dicts, smallest hash first."""
    values = list(row)
    if drawn:
        examples = [e.asDict(recursive=True) for e in values[-1]]
        values[-1] = sorted(examples, key=lambda e: (e["h"], str(e["id"])))
    return tuple(values)


def _header(path: str, kind: str) -> tuple[list[str], str]:
    """The first record's names, repeats numbered as DuckDB numbers them, and the
    delimiter (a tab for .tsv, and for a .txt whose header has one)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        first_line = handle.readline()
        handle.seek(0)
        delimiter = "\t" if kind == "tsv" or (kind == "text" and "\t" in first_line) else ","
        header = next(csv.reader(handle, delimiter=delimiter), [])
    seen: dict[str, int] = {}
    names = []
    for raw in header:
        name = raw or "column"
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}_{count}")
    return names, delimiter
