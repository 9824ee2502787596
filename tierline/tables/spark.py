"""The rules' SQL on Spark, as native expressions: no Python UDF, so the work
runs in the executors' JVMs, where the table is.

`with_tiers(df, ruleset)` adds `tier`, `labels`, `rule` and `error` to a
PySpark DataFrame whose columns hold the inputs (typed: numbers in numeric
columns, sets in array columns, as `tierline sql --dialect spark` expects).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine import Ruleset
from engine.checker.model import CheckedRuleset, Input
from engine.sql.compile import result_columns
from engine.sql.layers import PREFIX, Columns
from tierline.tables import cells
from tierline.tables.classify import Summary, beside, output_format
from tierline.tables.joint import REFUSED, Joint, cell
from tierline.tables.read import inputs_of, match_columns, readable, required_by

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession


def with_tiers(
    df: DataFrame, ruleset: Ruleset, columns: Mapping[str, str] | None = None
) -> DataFrame:
    """`df` with the four columns the rules add; `columns` maps an input to its column."""
    added = result_columns(ruleset.checked, "spark", columns)
    return _ruled(df, added).drop(*added.helpers)


def _layered(df: DataFrame, added: Columns) -> DataFrame:
    """`df` with the helper columns the rules' columns read (each let, once per row),
    layer by layer: Spark keeps a column read twice as one column, never writes its
    expression out twice (engine/sql/layers.py)."""
    from pyspark.sql import functions as F

    for layer in added.layers:
        df = df.select("*", *(F.expr(sql).alias(name) for name, sql in layer.items()))
    return df


def _ruled(df: DataFrame, added: Columns) -> DataFrame:
    """`df` with the helpers and the four columns the rules add."""
    from pyspark.sql import functions as F

    results = (F.expr(sql).alias(name) for name, sql in added.results.items())
    return _layered(df, added).select("*", *results)


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
    staged = _stage(spark, ruleset.checked.inputs, paths, kind, mapping or {}, id_column,
                    required_by([ruleset.checked]))  # fmt: skip
    df, columns, unreadable, id_name, names = staged
    ruled = _ruled(df, result_columns(ruleset.checked, "spark", columns, unreadable))
    kept = [n for n in names if n != id_name] if keep_columns else []
    result = ruled.select(id_name, *kept, "tier", "labels", "rule", "error")
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


Staged = tuple["DataFrame", dict[str, str], dict[str, str], str, list[str]]


def _stage(
    spark: SparkSession,
    inputs: Mapping[str, Input],
    paths: list[str],
    kind: str,
    mapping: Mapping[str, str],
    id_column: str | None,
    needed_by: Mapping[str, Sequence[CheckedRuleset]],
) -> Staged:
    """The files as a DataFrame with each input read as its type (`__in_<name>`), the
    cells that could not be (`__bad_<name>`), the input -> column maps the rules' SQL
    takes, the id column's name and the files' own column names."""
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
    names = df.columns
    text = kind not in ("parquet", "json")
    if text and names:
        others = " AND ".join(f"{_quoted(n)} IS NULL" for n in names[1:]) or "true"
        df = df.where(f"NOT ({cells.drawn(names[0], 'spark')} AND {others})")
    found, id_name = match_columns(inputs, names, mapping, id_column, needed_by)
    staged, columns, unreadable = ["*"], {}, {}
    for name, decl in inputs.items():
        values: list[str] = []
        bads: list[str] = []
        for column in found[name]:
            if text:
                value, bad = cells.read(decl.type, column, "spark")
                values.append(value)
                bads += [bad] if bad != "NULL" else []
            else:
                values.append(_quoted(column))
        if not values:
            staged.append(f"NULL AS {_quoted('__in_' + name)}")
        else:
            joined = values[0] if len(values) == 1 else cells.union(values, "spark")
            staged.append(f"{joined} AS {_quoted('__in_' + name)}")
        if bads:
            bad = bads[0] if len(bads) == 1 else f"coalesce({', '.join(bads)})"
            staged.append(f"{bad} AS {_quoted('__bad_' + name)}")
            unreadable[name] = "__bad_" + name
        columns[name] = "__in_" + name
    df = df.selectExpr(*staged)
    if id_name == "row":  # the row number, in file order (one partition numbers them)
        df = df.withColumn(
            "row", F.row_number().over(Window.orderBy(F.monotonically_increasing_id()))
        )
    return df, columns, unreadable, id_name, names


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
    """The groups of `joint_spark`, collected from Spark, and the id column's name."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df, columns, unreadable, id_name, _names = _stage(
        spark, declared, paths, kind, mapping or {}, id_column, required_by(rulesets)
    )
    sides = [F.col(_quoted(id_name)).alias("__id"), F.xxhash64(_quoted(id_name)).alias("__h")]
    sides += [F.col(_quoted(column)).alias("__v_" + name) for name, column in columns.items()]
    keys, errors = [], []
    for i, checked in enumerate(rulesets):
        added = result_columns(checked, "spark", columns, unreadable, prefix=f"{PREFIX}{i}_")
        df = _layered(df, added)
        sides += [
            F.expr(added.results[name]).alias(f"__{name}_{i}")
            for name in ("tier", "labels", "error")
        ]
        keys.append(
            F.expr(f"CASE WHEN __error_{i} IS NOT NULL THEN '{REFUSED}' "
                   f"ELSE coalesce(__tier_{i}, '') END").alias(f"__o{i}")
        )  # fmt: skip
        errors.append(F.col(f"__error_{i}").alias(f"e{i}"))
    if labels:
        keys += [
            F.expr(f"coalesce(__labels_{i}, array())").alias(f"__l{i}")
            for i in range(len(rulesets))
        ]
    sided = df.select(*sides).select("*", *keys)
    names = [f"__o{i}" for i in range(len(rulesets))]
    names += [f"__l{i}" for i in range(len(rulesets))] if labels else []
    aggregates = [F.count(F.lit(1)).alias("__n")]
    if examples > 0:
        account = (
            F.struct(*(F.col("__v_" + n).alias(n) for n in declared)) if declared else F.lit(None)
        )
        rank = F.row_number().over(Window.partitionBy(*names).orderBy("__h", "__id"))
        drawn = F.struct(F.col("__id").alias("id"), F.col("__h").alias("h"),
                         account.alias("account"), *errors)  # fmt: skip
        sided = sided.withColumn("__drawn", F.when(rank <= examples, drawn))
        aggregates.append(F.collect_list("__drawn").alias("__examples"))
    return sided.groupBy(*names).agg(*aggregates).collect(), id_name


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


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
