"""Whole tables on DuckDB (issue 14): `tierline classify` end to end against a
hand-written DuckDB query doing the same, and against the Python evaluator.

Data: 10,000,000 rows written to Parquet here, each a Kim et al. follower count
(row i takes account i mod 33,935 of `influencers.txt`), with an engagement
rate, topics and a platform from a hash of the row number. Both commands run
as processes of their own (`tierline classify rules/synthesis.tiers IN -o
OUT --keep-columns`, which writes every column as the hand-written `SELECT *`
does, and `python -c` with the hand-written COPY), in turn, ROUNDS times; the
figures are medians, and each process's peak memory is read from the kernel
(wait4, by a small wrapper process: see `_PEAK`). The two outputs must agree
on every row's tier and labels. The
Python evaluator: `classify_many` over the first 1,000,000 rows, read from the
same file as dicts (reading them is not timed), and `tierline eval` end to end
on 100,000 of them as JSON lines. Spark in local mode: `with_tiers` against
hand-written Spark SQL, each Parquet to Parquet in one session, outputs
compared row by row. Also the Kim file CSV → CSV.

Run: `make bench`, or `.venv/bin/python -m benchmarks.run tables`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.accounts import KIM
from engine import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("TIERLINE_BENCH_TABLE_ROWS", "10000000"))
ROUNDS = 3
PYTHON_ROWS = 1_000_000
EVAL_ROWS = 100_000
TOPICS = "[['fashion'], ['tech'], ['gaming', 'food'], [], ['beauty']]"
PLATFORMS = "['instagram', 'tiktok', 'youtube']"
Rows = list[tuple[str, str]]

# rules/synthesis.tiers written by hand as DuckDB would be asked by someone who
# knows the data is clean: no validation, no error column.
HAND_WRITTEN = """
COPY (
  SELECT *,
    CASE WHEN followers >= 1000000 THEN 'mega'
         WHEN followers BETWEEN 100000 AND 1000000 THEN 'macro'
         WHEN followers BETWEEN 10000 AND 100000 AND engagement_rate >= 0.035 THEN 'micro'
         WHEN followers BETWEEN 1000 AND 10000 THEN 'nano' END AS tier,
    list_filter([
      CASE WHEN list_contains(topics, 'fashion') AND engagement_rate >= 0.035
           THEN 'fashion_expert' END,
      CASE WHEN (list_contains(topics, 'tech') OR list_contains(topics, 'gaming'))
                AND engagement_rate >= 0.035 THEN 'tech_expert' END,
      CASE WHEN fake_follower_ratio > 0.25 THEN 'suspicious' END
    ], lambda x: x IS NOT NULL) AS labels,
    CASE WHEN followers >= 1000000 THEN 'mega'
         WHEN followers BETWEEN 100000 AND 1000000 THEN 'macro'
         WHEN followers BETWEEN 10000 AND 100000 AND engagement_rate >= 0.035 THEN 'micro'
         WHEN followers BETWEEN 1000 AND 10000 THEN 'nano' ELSE 'none' END AS rule,
    NULL AS error
  FROM read_parquet('{source}')
) TO '{target}' (FORMAT PARQUET)
"""


def make_table(path: Path) -> str:
    """The benchmark's Parquet file; returns what its data is, for the tables."""
    if not KIM.exists():
        if os.environ.get("TIERLINE_BENCH_SYNTHETIC") != "1":
            raise SystemExit(
                f"benchmarks.tables: {KIM} is missing; set TIERLINE_BENCH_SYNTHETIC=1 "
                "to measure on synthetic follower counts"
            )
        followers = "CAST(pow(10, 2 + (hash(i) % 600) / 100.0) AS BIGINT)"
        what = f"{ROWS:,} rows of synthetic follower counts (shared data absent)"
        kim = ""
    else:
        followers = "k.followers"
        what = f"{ROWS:,} rows, follower counts of the Kim et al. file repeated"
        read = (
            f"read_csv('{KIM}', delim = '\t', header = true, all_varchar = true, "
            "null_padding = true, strict_mode = false)"
        )
        duckdb.sql(
            "CREATE OR REPLACE TEMP TABLE kim AS SELECT row_number() OVER () - 1 AS n, "
            f'TRY_CAST("#Followers" AS BIGINT) AS followers FROM {read} '
            'WHERE TRY_CAST("#Followers" AS BIGINT) IS NOT NULL'
        )
        (count,) = duckdb.sql("SELECT count(*) FROM kim").fetchall()[0]
        kim = f"JOIN kim AS k ON k.n = r.i % {count}"
    duckdb.sql(
        f"""
        COPY (
          SELECT r.i AS id, {followers} AS followers,
                 (hash(i * 7) % 800) / 10000.0 AS engagement_rate,
                 {TOPICS}[CAST(hash(i * 3) % 5 + 1 AS BIGINT)] AS topics,
                 {PLATFORMS}[CAST(hash(i * 5) % 3 + 1 AS BIGINT)] AS platform,
                 CASE WHEN hash(i * 11) % 10 = 0 THEN (hash(i) % 50) / 100.0 END
                   AS fake_follower_ratio
          FROM range({ROWS}) AS r(i) {kim}
          ORDER BY i
        ) TO '{path}' (FORMAT PARQUET)
        """
    )
    return what


SPARK_HAND_WRITTEN = """
SELECT *,
  CASE WHEN followers >= 1000000 THEN 'mega'
       WHEN followers BETWEEN 100000 AND 1000000 THEN 'macro'
       WHEN followers BETWEEN 10000 AND 100000 AND engagement_rate >= 0.035 THEN 'micro'
       WHEN followers BETWEEN 1000 AND 10000 THEN 'nano' END AS tier,
  filter(array(
    CASE WHEN array_contains(topics, 'fashion') AND engagement_rate >= 0.035
         THEN 'fashion_expert' END,
    CASE WHEN (array_contains(topics, 'tech') OR array_contains(topics, 'gaming'))
              AND engagement_rate >= 0.035 THEN 'tech_expert' END,
    CASE WHEN fake_follower_ratio > 0.25 THEN 'suspicious' END
  ), x -> x IS NOT NULL) AS labels,
  CASE WHEN followers >= 1000000 THEN 'mega'
       WHEN followers BETWEEN 100000 AND 1000000 THEN 'macro'
       WHEN followers BETWEEN 10000 AND 100000 AND engagement_rate >= 0.035 THEN 'micro'
       WHEN followers BETWEEN 1000 AND 10000 THEN 'nano' ELSE 'none' END AS rule,
  CAST(NULL AS STRING) AS error
FROM accounts
"""


def spark_rows(table: Path, folder: Path) -> Rows:
    """Spark local, one session: `with_tiers` against the hand-written Spark SQL,
    each read from the Parquet file and written to Parquet, in turn, ROUNDS times."""
    from pyspark.sql import functions as F

    from tierline.tables.spark import local_session, with_tiers

    spark = local_session("local[*]", "tierline-bench", progress=False)
    ruleset = load_ruleset(ROOT / "rules" / "synthesis.tiers")
    times: dict[str, list[float]] = {"tierline": [], "hand": []}
    try:
        for n in range(ROUNDS):
            for name in ("tierline", "hand"):
                started = time.perf_counter()
                df = spark.read.parquet(str(table))
                if name == "tierline":
                    out = with_tiers(df, ruleset)
                else:
                    df.createOrReplaceTempView("accounts")
                    out = spark.sql(SPARK_HAND_WRITTEN)
                out.write.mode("overwrite").parquet(str(folder / f"spark-{name}-{n}"))
                times[name].append(time.perf_counter() - started)
        ours = spark.read.parquet(str(folder / "spark-tierline-0")).select("id", "tier", "labels")
        theirs = spark.read.parquet(str(folder / "spark-hand-0")).select(
            "id", F.col("tier").alias("t"), F.col("labels").alias("l")
        )
        joined = ours.join(theirs, "id")
        differ = joined.where(
            ~F.col("tier").eqNullSafe(F.col("t")) | ~F.col("labels").eqNullSafe(F.col("l"))
        ).count()
        if differ or joined.count() != ROWS:
            raise SystemExit(f"benchmarks.tables: Spark outputs differ on {differ} rows")
    finally:
        spark.stop()
    ours_s, hand_s = (statistics.median(times[k]) for k in ("tierline", "hand"))
    return [
        (
            "Spark local[*], with_tiers, Parquet -> Parquet (median of 3)",
            f"{ours_s:.2f} s, {ROWS / ours_s:,.0f} rows/s",
        ),
        (
            "Spark local[*], hand-written Spark SQL, same file",
            f"{hand_s:.2f} s, {ROWS / hand_s:,.0f} rows/s",
        ),
        ("Spark: tierline / hand-written, speed", f"{hand_s / ours_s:.2f}"),
    ]


# Runs the command and prints its peak RSS (KiB). A process's peak counts what it held at
# fork, so a child forked straight from this benchmark (which holds DuckDB tables) would
# report this process's size; forked from this small wrapper, it reports its own.
_PEAK = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "_, status, usage = os.wait4(p.pid, 0); "
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)"
)


def _timed(command: list[str]) -> tuple[float, float]:
    """Seconds and peak resident MiB of one process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *command], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=3600)  # fmt: skip
    seconds = time.perf_counter() - started
    code, peak = (int(x) for x in done.stdout.split())
    if code not in (0, 1):
        raise SystemExit(f"benchmarks.tables: {command[:4]} failed: {done.stderr!r}")
    return seconds, peak / 1024


def python_rate(path: Path) -> float:
    ruleset = load_ruleset(ROOT / "rules" / "synthesis.tiers")
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{path}') LIMIT {PYTHON_ROWS}")
    names = relation.columns
    accounts = [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
    started = time.perf_counter()
    ruleset.classify_many(accounts)
    return len(accounts) / (time.perf_counter() - started)


def main() -> Rows:
    with tempfile.TemporaryDirectory() as where:
        folder = Path(where)
        table = folder / "accounts.parquet"
        what = make_table(table)
        ours, theirs = folder / "tierline.parquet", folder / "hand.parquet"
        tierline = [sys.executable, "-m", "tierline", "classify", "rules/synthesis.tiers",
                    str(table), "-o", str(ours), "--keep-columns"]  # fmt: skip
        copy = HAND_WRITTEN.format(source=table, target=theirs)
        hand = [sys.executable, "-c", f"import duckdb; duckdb.sql({copy!r})"]
        runs: dict[str, list[tuple[float, float]]] = {"tierline": [], "hand": []}
        for _ in range(ROUNDS):
            runs["tierline"].append(_timed(tierline))
            runs["hand"].append(_timed(hand))
        differ = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{ours}') AS a POSITIONAL JOIN "
            f"read_parquet('{theirs}') AS b WHERE a.tier IS DISTINCT FROM b.tier "
            "OR a.labels IS DISTINCT FROM b.labels"
        ).fetchall()[0]
        if differ is None or differ[0] != 0:
            raise SystemExit(f"benchmarks.tables: the outputs differ on {differ} rows")
        rate = python_rate(table)
        lines = folder / "accounts.jsonl"
        duckdb.sql(
            f"COPY (SELECT * FROM read_parquet('{table}') LIMIT {EVAL_ROWS}) TO '{lines}' "
            "(FORMAT JSON)"
        )
        evaluate = [sys.executable, "-m", "tierline", "eval", "rules/synthesis.tiers",
                    "--input", str(lines)]  # fmt: skip
        eval_rate = EVAL_ROWS / _timed(evaluate)[0]
        kim_seconds = None
        if KIM.exists():
            kim_rules = folder / "kim.tiers"
            kim_rules.write_text(
                "ruleset kim\ninput followers: count\n"
                "tier mid when followers at least 50k\ntier micro when followers at least 10k\n"
                "tier nano when followers at least 1k\notherwise none\n"
            )
            kim_out = str(folder / "kim.csv")
            kim = [sys.executable, "-m", "tierline", "classify", str(kim_rules), str(KIM),
                   "-o", kim_out, "--map", "followers=#Followers", "--id", "Username"]  # fmt: skip
            kim_seconds = statistics.median(_timed(kim)[0] for _ in range(ROUNDS))
        spark = spark_rows(table, folder)
    ours_s = statistics.median(s for s, _ in runs["tierline"])
    hand_s = statistics.median(s for s, _ in runs["hand"])
    ours_rate = ROWS / ours_s
    rows: Rows = [
        ("data", what),
        (
            "agreement",
            "tierline's and the hand-written query's tiers and labels equal on every row",
        ),
        (
            "tierline classify, Parquet -> Parquet, end to end (median of 3)",
            f"{ours_s:.2f} s, {ours_rate:,.0f} rows/s, peak "
            f"{max(m for _, m in runs['tierline']):,.0f} MiB",
        ),
        (
            "hand-written DuckDB COPY, same file (median of 3)",
            f"{hand_s:.2f} s, {ROWS / hand_s:,.0f} rows/s, peak "
            f"{max(m for _, m in runs['hand']):,.0f} MiB",
        ),
        ("tierline / hand-written, speed (target >= 0.7)", f"{hand_s / ours_s:.2f}"),
        (
            f"Python evaluator, classify_many over {min(ROWS, PYTHON_ROWS):,} of the rows",
            f"{rate:,.0f} rows/s",
        ),
        ("tierline classify / classify_many, speed (target >= 30)", f"{ours_rate / rate:.1f}"),
        (  # the most any DuckDB program could reach against the same evaluator
            "hand-written DuckDB COPY / classify_many, speed (the ceiling of the above)",
            f"{ROWS / hand_s / rate:.1f}",
        ),
        (
            f"tierline eval (JSON lines in, decisions out), {EVAL_ROWS:,} of the rows",
            f"{eval_rate:,.0f} rows/s; tierline classify / it {ours_rate / eval_rate:.1f}",
        ),
    ]
    rows += spark
    if kim_seconds is not None:
        rows.append(
            (
                "Kim et al. file, 33,935 rows, CSV -> CSV end to end (target < 1 s)",
                f"{kim_seconds:.2f} s",
            )
        )
    return rows
