"""The rules' SQL on Spark, as native expressions: no Python UDF, so the work
runs in the executors' JVMs, where the table is.

`with_tiers(df, ruleset)` adds `tier`, `labels`, `rule` and `error` to a
PySpark DataFrame whose columns hold the inputs (typed: numbers in numeric
columns, sets in array columns, as `tierline sql --dialect spark` expects).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine import Ruleset
from engine.sql.compile import result_columns
from tables.classify import Summary, output_format
from tables.read import TableError, files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def with_tiers(
    df: DataFrame, ruleset: Ruleset, columns: Mapping[str, str] | None = None
) -> DataFrame:
    """`df` with the four columns the rules add; `columns` maps an input to its column."""
    from pyspark.sql import functions as F

    added = result_columns(ruleset.checked, "spark", columns)
    return df.select("*", *(F.expr(sql).alias(name) for name, sql in added.items()))


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
    """`tierline classify --engine spark`: Parquet or JSON lines in, Spark's own output
    (a folder of part files at OUTPUT) out. CSV text cells (`475.8m`) are read by the
    DuckDB engine only, so CSV is refused here rather than read differently."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    paths, kind = files(inputs)
    if kind not in ("parquet", "json"):
        raise TableError(
            "--engine spark reads Parquet and JSON lines; classify CSV and text files "
            "with --engine duckdb (the default), which reads their text cells"
        )
    out_kind = output_format(output)
    spark = local_session(master)
    df = spark.read.parquet(*paths) if kind == "parquet" else spark.read.json(paths)
    names = df.columns
    columns = dict(mapping or {})
    for name, decl in ruleset.checked.inputs.items():
        column = columns.get(name, name)
        if column not in names:
            if not decl.optional:
                raise TableError(
                    f"no column for the input {name}: the files have "
                    f"{', '.join(repr(n) for n in names)}; use --map {name}=COLUMN"
                )
            df = df.withColumn(column, F.lit(None))
            columns[name] = column
    wanted = id_column or "id"
    if id_column is not None and id_column not in names:
        raise TableError(f"--id {id_column}: no such column")
    id_name = wanted if wanted in names else "row"
    if id_name == "row":
        df = df.withColumn("row", F.monotonically_increasing_id() + 1)
    ruled = with_tiers(df, ruleset, columns)
    kept = [n for n in names if n != id_name] if keep_columns else []
    result = ruled.select(id_name, *kept, "tier", "labels", "rule", "error")
    if out_kind == "csv":
        result = result.withColumn("labels", F.array_join("labels", ";"))
    writer = result.write.mode("overwrite")
    if out_kind == "csv":
        writer.option("header", True).csv(output)
    elif out_kind == "parquet":
        writer.parquet(output)
    else:
        writer.json(output)
    summary = Summary()
    counts = result.groupBy("tier", F.col("error").isNotNull().alias("bad")).count().collect()
    for row in counts:
        summary.add(row["tier"], row["bad"], row["count"])
    summary.seconds = time.perf_counter() - started
    return summary
