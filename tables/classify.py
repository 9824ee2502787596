"""Classify files into a file on DuckDB: the staged input (`read.py`), the rules'
SQL (`engine.sql`) over it, and DuckDB's COPY to CSV, Parquet or JSON lines.
DuckDB streams the rows from the files to the output, in parallel and within
its memory limit; nothing is held in Python."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from engine import Ruleset
from engine.sql.compile import compile_sql
from tables.cells import quoted
from tables.read import FORMATS, TableError, files, stage

OUTPUTS = {"csv": "FORMAT CSV, HEADER", "parquet": "FORMAT PARQUET", "json": "FORMAT JSON"}
RESULTS = ("tier", "labels", "rule", "error")


@dataclass
class Summary:
    rows: int = 0
    errors: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, tier: str | None, bad: bool, count: int) -> None:
        """`count` rows with this tier (None: no tier), refused or not."""
        self.rows += count
        if bad:
            self.errors += count
        else:
            self.tiers[tier or "(no tier)"] += count

    def text(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        tiers = ", ".join(f"{tier} {count:,}" for tier, count in self.tiers.most_common())
        return (
            f"{self.rows:,} rows in {self.seconds:.2f} s ({rate:,.0f} rows/s): "
            f"{tiers or 'no tiers'}; {self.errors:,} with errors"
        )


def output_format(path: str) -> str:
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind not in ("csv", "parquet", "json"):
        raise TableError(f"{path}: write .csv, .parquet or .jsonl")
    return kind


def classify_files(
    ruleset: Ruleset,
    inputs: list[str],
    output: str,
    mapping: dict[str, str] | None = None,
    id_column: str | None = None,
    keep_columns: bool = False,
    progress: bool = False,
) -> Summary:
    started = time.perf_counter()
    kind = output_format(output)
    paths, in_kind = files(inputs)
    connection = duckdb.connect()
    connection.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")
    staged = stage(
        connection, ruleset.checked.inputs, paths, in_kind, dict(mapping or {}), id_column
    )
    clash = sorted(set(RESULTS) & set(staged.kept)) if keep_columns else []
    if clash:
        raise TableError(f"--keep-columns: the files already have {', '.join(clash)}")
    rules = compile_sql(
        ruleset.checked,
        "duckdb",
        "__staged",
        staged.columns,
        pretty=False,
        unreadable=staged.unreadable,
    )
    labels = "array_to_string(labels, ';')" if kind == "csv" else "labels"
    kept = (
        "".join(f", {quoted(n)}" for n in staged.kept if n != staged.id_name)
        if keep_columns
        else ""
    )
    query = (
        f"WITH __staged AS ({staged.sql}) "
        f"SELECT __id AS {quoted(staged.id_name)}{kept}, tier, {labels} AS labels, rule, error "
        f"FROM ({rules})"
    )
    target = "'" + output.replace("'", "''") + "'"
    connection.execute(f"COPY ({query}) TO {target} ({OUTPUTS[kind]})")
    summary = Summary(seconds=0.0)
    reader = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}[kind]
    counted = connection.sql(
        f"SELECT tier, error IS NOT NULL AS bad, count(*) FROM {reader}({target}) GROUP BY ALL"
    ).fetchall()
    for tier, bad, count in counted:
        summary.add(tier, bad, count)
    summary.seconds = time.perf_counter() - started
    return summary
