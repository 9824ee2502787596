"""`tierline diff --data` and `tierline compare` over a big table (issue 15), against one
`tierline classify` of the same rows.

Data: the 10,000,000-row Parquet file of `benchmarks/tables.py` (Kim et al.
follower counts repeated, engagement, topics and platform from hashes). OLD is
`rules/synthesis.tiers`; NEW is it with micro from 5k followers and high
engagement from 3%. Three processes, in turn, ROUNDS times, medians:
`tierline classify OLD IN -o OUT.parquet`, `tierline diff OLD NEW --data IN
--format json` (3 examples a cell, each replayed through both versions in
Python) and `tierline compare OLD rules/gnack.tiers --data IN --format json`.
Agreement: the diff's matrix must equal the one DuckDB counts from the two
`tierline classify` outputs (OLD and NEW), row by row, and cover every row.

Run: `.venv/bin/python -m benchmarks.run compare_speed`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from benchmarks.tables import ROWS, _timed, make_table

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
Rows = list[tuple[str, str]]


def _edited(folder: Path) -> Path:
    text = (ROOT / "rules" / "synthesis.tiers").read_text()
    text = text.replace("high   at least 3.5%", "high   at least 3%")
    text = text.replace(
        "tier micro when followers between 10000", "tier micro when followers between 5000"
    )
    text = text.replace(
        "tier nano  when followers between 1k and 10k",
        "tier nano  when followers between 1k and 5k",
    )
    new = folder / "synthesis_new.tiers"
    new.write_text(text.split("\nexample ")[0] + "\n")
    return new


def _agrees(table: Path, old_out: Path, new_out: Path, diff: dict[str, object]) -> None:
    counted = duckdb.sql(
        f"SELECT CASE WHEN a.error IS NOT NULL THEN '(error)' ELSE coalesce(a.tier, '') END, "
        f"CASE WHEN b.error IS NOT NULL THEN '(error)' ELSE coalesce(b.tier, '') END, count(*) "
        f"FROM read_parquet('{old_out}') AS a JOIN read_parquet('{new_out}') AS b USING (id) "
        "GROUP BY ALL"
    ).fetchall()
    expected = {(a, b): c for a, b, c in counted}
    matrix = diff["matrix"]
    assert isinstance(matrix, list)
    got = {(m["from"], m["to"]): m["count"] for m in matrix}
    if got != expected or sum(got.values()) != ROWS:
        raise SystemExit(f"benchmarks.compare_speed: diff {got} != classify {expected}")


def main() -> Rows:
    with tempfile.TemporaryDirectory() as where:
        folder = Path(where)
        table = folder / "accounts.parquet"
        what = make_table(table)
        old, new = ROOT / "rules" / "synthesis.tiers", _edited(folder)
        out = folder / "classified.parquet"
        report = folder / "diff.json"
        cli = [sys.executable, "-m", "tierline"]
        commands = {
            "classify": [*cli, "classify", str(old), str(table), "-o", str(out)],
            "diff": [*cli, "diff", str(old), str(new), "--data", str(table), "--format", "json",
                     "-o", str(report)],
            "compare": [*cli, "compare", str(old), str(ROOT / "rules" / "gnack.tiers"),
                        "--data", str(table), "--format", "json", "-o", str(folder / "c.json")],
        }  # fmt: skip
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(ROUNDS):
            for name, command in commands.items():
                runs[name].append(_timed(command))
        new_out = folder / "classified_new.parquet"
        subprocess.run([*cli, "classify", str(new), str(table), "-o", str(new_out)], cwd=ROOT,
                       check=False, capture_output=True, timeout=600)  # fmt: skip
        diff = json.loads(report.read_text())
        _agrees(table, out, new_out, diff)
        examples = len(diff["examples"])
    seconds = {name: statistics.median(s for s, _ in r) for name, r in runs.items()}
    peak = {name: max(m for _, m in r) for name, r in runs.items()}
    rows: Rows = [
        ("data", what),
        ("agreement", "the diff's matrix equals the one counted from two classify outputs"),
    ]
    for name in commands:
        rows.append((f"tierline {name}, median of {ROUNDS}",
                     f"{seconds[name]:.2f} s, {ROWS / seconds[name]:,.0f} rows/s, peak "
                     f"{peak[name]:,.0f} MiB"))  # fmt: skip
    rows += [
        ("diff / classify, time (target < 5)", f"{seconds['diff'] / seconds['classify']:.2f}"),
        (
            "compare / classify, time (target < 5)",
            f"{seconds['compare'] / seconds['classify']:.2f}",
        ),
        ("examples in the diff, drawn in its one pass", f"{examples}"),
    ]
    return rows
