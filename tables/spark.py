"""The rules' SQL on Spark, as native expressions: no Python UDF, so the work
runs in the executors' JVMs, where the table is.

`with_tiers(df, ruleset)` adds `tier`, `labels`, `rule` and `error` to a
PySpark DataFrame whose columns hold the inputs (typed: numbers in numeric
columns, sets in array columns, as `tierline sql --dialect spark` expects).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine import Ruleset
from engine.sql.compile import result_columns
from tables import cells
from tables.classify import Summary, output_format
from tables.read import files, match_columns

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
    """`tierline classify --engine spark`: the files read by Spark, text cells read as
    the DuckDB engine reads them (`cells.py`, written for Spark by sqlglot), the rules
    as Spark expressions, and Spark's own output: a folder of part files at OUTPUT."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    started = time.perf_counter()
    paths, kind = files(inputs)
    out_kind = output_format(output)
    spark = local_session(master)
    if kind == "parquet":
        df = spark.read.parquet(*paths)
    elif kind == "json":
        df = spark.read.json(paths)
    else:  # every cell a text, under the header DuckDB would give (`name_1` repeats)
        names, delimiter = _header(paths[0], kind)
        df = spark.read.options(header=True, multiLine=True, sep=delimiter).csv(paths)
        df = df.toDF(*names)
    names = df.columns
    text = kind not in ("parquet", "json")
    if text and names:
        others = " AND ".join(f"{_quoted(n)} IS NULL" for n in names[1:]) or "true"
        df = df.where(f"NOT ({cells.drawn(names[0], 'spark')} AND {others})")
    found, id_name = match_columns(ruleset.checked.inputs, names, mapping or {}, id_column)
    staged, columns, unreadable = ["*"], {}, {}
    for name, decl in ruleset.checked.inputs.items():
        column = found[name]
        if column is None:
            staged.append(f"NULL AS {_quoted('__in_' + name)}")
        elif text:
            value, bad = cells.read(decl.type, column, "spark")
            staged += [
                f"{value} AS {_quoted('__in_' + name)}",
                f"{bad} AS {_quoted('__bad_' + name)}",
            ]
            unreadable[name] = "__bad_" + name
        else:
            staged.append(f"{_quoted(column)} AS {_quoted('__in_' + name)}")
        columns[name] = "__in_" + name
    df = df.selectExpr(*staged)
    if id_name == "row":  # the row number, in file order (one partition numbers them)
        df = df.withColumn(
            "row", F.row_number().over(Window.orderBy(F.monotonically_increasing_id()))
        )
    added = result_columns(ruleset.checked, "spark", columns, unreadable)
    ruled = df.select("*", *(F.expr(sql).alias(n) for n, sql in added.items()))
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


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
