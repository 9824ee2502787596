"""A file classified by the columnar evaluator against `tierline classify` on DuckDB (issue 29).

Should `tierline classify` on a Parquet file use the columnar evaluator instead of
DuckDB's SQL? Both run as processes of their own on the same file (the `tables`
benchmark's: follower counts of the Kim et al. file repeated, engagement rate,
topics, platform and, for a tenth, a fake-follower ratio; `rules/synthesis.tiers`),
Parquet in, Parquet out with every input column kept, in turn, ROUNDS times;
figures are medians, with each process's peak memory from the kernel (the `tables`
benchmark's wrapper). The columnar process: pyarrow reads the file,
`tierline.tables.classify_frame` adds the four columns to the Arrow table, pyarrow
writes it. The two outputs must agree on every row's tier, labels and rule.

Run: `.venv/bin/python -m benchmarks.run columnar_speed` (rows:
TIERLINE_BENCH_COLUMNAR_ROWS, default 10,000,000).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import duckdb

from benchmarks import tables

ROWS = int(os.environ.get("TIERLINE_BENCH_COLUMNAR_ROWS", "10000000"))
ROUNDS = 3
COLUMNAR = """
import sys
import pyarrow.parquet as pq
from engine import load_ruleset
from tierline.tables.frames import classify_frame
table = pq.read_table(sys.argv[1])
pq.write_table(classify_frame(table, load_ruleset("rules/synthesis.tiers")), sys.argv[2])
"""


def main() -> list[tuple[str, str]]:
    tables.ROWS = ROWS  # make_table writes tables.ROWS rows
    with tempfile.TemporaryDirectory(prefix="tierline-columnar-") as name:
        folder = Path(name)
        source = folder / "accounts.parquet"
        what = tables.make_table(source)
        duck, columns = folder / "duckdb.parquet", folder / "columnar.parquet"
        commands = {
            "duckdb": [
                sys.executable,
                "-m",
                "tierline",
                "classify",
                "rules/synthesis.tiers",
                str(source),
                "-o",
                str(duck),
                "--keep-columns",
            ],
            "columnar": [sys.executable, "-c", COLUMNAR, str(source), str(columns)],
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(ROUNDS):
            for key, command in commands.items():
                runs[key].append(tables._timed(command))
        differ = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{duck}') AS a "
            f"JOIN read_parquet('{columns}') AS b USING (id) "
            "WHERE a.tier IS DISTINCT FROM b.tier OR a.rule IS DISTINCT FROM b.rule "
            "OR coalesce(a.labels, []) IS DISTINCT FROM coalesce(b.labels, [])"
        ).fetchall()[0][0]
        joined = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{duck}') JOIN read_parquet('{columns}') USING (id)"
        ).fetchall()[0][0]
        if differ or joined != ROWS:
            raise SystemExit(f"benchmarks.columnar_speed: outputs differ on {differ} rows")
    duck_s = statistics.median(s for s, _ in runs["duckdb"])
    ours_s = statistics.median(s for s, _ in runs["columnar"])
    peak = {key: max(m for _, m in found) for key, found in runs.items()}
    return [
        ("data", what),
        ("agreement", f"tier, labels and rule equal on all {ROWS:,} rows"),
        (
            f"tierline classify (DuckDB), Parquet -> Parquet, --keep-columns (median of {ROUNDS})",
            f"{duck_s:.2f} s, {ROWS / duck_s:,.0f} rows/s, peak {peak['duckdb']:,.0f} MiB",
        ),
        (
            "pyarrow read + classify_frame (columnar) + pyarrow write, same file",
            f"{ours_s:.2f} s, {ROWS / ours_s:,.0f} rows/s, peak {peak['columnar']:,.0f} MiB",
        ),
        ("columnar / DuckDB, speed", f"{duck_s / ours_s:.2f}"),
    ]
