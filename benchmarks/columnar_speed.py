"""A file classified by the columnar evaluator against `tierline classify` on DuckDB (issue 29).

Should `tierline classify` on a Parquet file use the columnar evaluator instead of
DuckDB's SQL? Both run as processes of their own on the same file (the `tables`
benchmark's: follower counts of the Kim et al. file repeated, engagement rate,
topics, platform and, for a tenth, a fake-follower ratio; `rules/synthesis.tiers`),
Parquet in, Parquet out with every input column kept, in turn, ROUNDS times;
figures are medians, with each process's peak memory from the kernel (the `tables`
benchmark's wrapper). The columnar process streams, as DuckDB does: pyarrow reads
the file a record batch at a time, `tierline.tables.classify_frame` adds the four
columns to each batch (the columnar evaluator's codes), a ParquetWriter in a thread
of its own appends it while the next batch is classified (both cores at work, as
DuckDB's threads are); memory stays that of a few batches whatever the file's
size. The two outputs must agree on every row's tier, labels and rule.

Run: `.venv/bin/python -m benchmarks.run columnar_speed` (rows:
TIERLINE_BENCH_COLUMNAR_ROWS, default 10,000,000; rounds:
TIERLINE_BENCH_COLUMNAR_ROUNDS, default 3).
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

from benchmarks import tables

ROWS = int(os.environ.get("TIERLINE_BENCH_COLUMNAR_ROWS", "10000000"))
ROUNDS = int(os.environ.get("TIERLINE_BENCH_COLUMNAR_ROUNDS", "3"))
BATCH = 131_072  # rows a record batch: the columnar process holds a few batches at a time
COLUMNAR = """
import queue, sys, threading
import pyarrow.parquet as pq
from engine import load_ruleset
from tierline.tables.frames import classify_frame
rules = load_ruleset("rules/synthesis.tiers")
done = queue.Queue(maxsize=2)  # batches classified, waiting for the writer thread

def write():
    writer = None
    while (batch := done.get()) is not None:
        if writer is None:
            writer = pq.ParquetWriter(sys.argv[2], batch.schema)
        writer.write_batch(batch)  # Arrow encodes and writes without the GIL
    if writer is not None:
        writer.close()

writing = threading.Thread(target=write)
writing.start()
for batch in pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=BATCH):
    done.put(classify_frame(batch, rules))
done.put(None)
writing.join()
""".replace("BATCH", str(BATCH))


# As tables._PEAK, and the child's CPU time (user + system): on a shared machine whose
# load moves wall time by several times, CPU time says what each way costs.
_USAGE = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "_, status, usage = os.wait4(p.pid, 0); "
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)"
)


def _timed(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak resident MiB of one process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _USAGE, *command], cwd=tables.ROOT,
                          capture_output=True, text=True, check=False, timeout=3600)  # fmt: skip
    seconds = time.perf_counter() - started
    code, peak, cpu = done.stdout.split()
    if int(code) not in (0, 1):
        raise SystemExit(f"benchmarks.columnar_speed: {command[:4]} failed: {done.stderr!r}")
    return seconds, float(cpu), int(peak) / 1024


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
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(ROUNDS):
            for key, command in commands.items():
                runs[key].append(_timed(command))
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
    wall = {key: statistics.median(r[0] for r in found) for key, found in runs.items()}
    cpu = {key: statistics.median(r[1] for r in found) for key, found in runs.items()}
    peak = {key: max(r[2] for r in found) for key, found in runs.items()}

    def row(key: str) -> str:
        return (
            f"{wall[key]:.2f} s wall, {ROWS / wall[key]:,.0f} rows/s; {cpu[key]:.2f} s CPU; "
            f"peak {peak[key]:,.0f} MiB"
        )

    return [
        ("data", what),
        ("agreement", f"tier, labels and rule equal on all {ROWS:,} rows"),
        (
            f"tierline classify (DuckDB), Parquet -> Parquet, --keep-columns (median of {ROUNDS})",
            row("duckdb"),
        ),
        (
            f"pyarrow record batches of {BATCH:,} rows -> classify_frame (columnar) -> "
            "ParquetWriter (own thread), same file",
            row("columnar"),
        ),
        ("columnar / DuckDB, speed (wall)", f"{wall['duckdb'] / wall['columnar']:.2f}"),
        (
            "columnar / DuckDB, CPU time it takes (DuckDB's / the columnar's)",
            f"{cpu['duckdb'] / cpu['columnar']:.2f}",
        ),
    ]
