"""Classify files into a file on DuckDB: the staged input (`read.py`), the rules'
SQL (`engine.sql`) over it, and DuckDB's COPY to CSV, Parquet or JSON lines.
DuckDB streams the rows from the files to the output, in parallel and within
its memory limit; nothing is held in Python. The output is written beside
OUTPUT and renamed to it once whole and counted (`beside`), so a failed run
never leaves a half-file under the name asked for."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from engine import Ruleset
from engine.sql.compile import compile_sql
from tierline.tables.cells import quoted
from tierline.tables.columns import TableError, required_by
from tierline.tables.plan import ID
from tierline.tables.read import (
    FORMATS,
    Staged,
    readable,
    serially_if_needed,
    stage,
)

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


@contextmanager
def beside(output: str) -> Iterator[str]:
    """A fresh path beside `output` to write to; renamed to `output` when the block ends
    well, removed when it fails, so that a run that fails after writing (counting the
    rows, a full disk, Ctrl-C) never leaves a half-written file under the name asked
    for, nor replaces a good one from an earlier run. Beside, so that the rename is
    on one file system, and atomic: a reader sees the old file or the new, whole."""
    target = Path(output)
    try:
        handle, partial = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as error:
        raise TableError(f"cannot write {output}: {error.strerror}") from None
    os.close(handle)
    os.unlink(partial)  # a name the folder proved writable: the writer creates the file
    # itself, with the usual permissions (mkstemp's are the owner's alone)
    try:
        yield partial
        if Path(partial).is_dir() and target.exists():  # Spark writes a folder
            _remove(str(target))
        elif target.is_dir():
            raise TableError(f"{output} is a folder; name a file to write")
        os.replace(partial, target)
    except BaseException:
        _remove(partial)
        raise


def _remove(path: str) -> None:
    if Path(path).is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        Path(path).unlink(missing_ok=True)


def _counted(
    connection: duckdb.DuckDBPyConnection, target: str, kind: str, kept: list[str]
) -> Summary:
    """The rows written, by tier and refused or not, read back from the file. A CSV is
    read in the dialect DuckDB wrote it in, every column named, nothing sniffed: kept
    columns may hold anything (headers and cells with newlines and carriage returns),
    which sniffing can misread or refuse."""
    if kind == "csv":
        names = ["__id", *(f"__k{i}" for i in range(len(kept))), *RESULTS]
        columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
        reader = (
            f"read_csv({target}, auto_detect = false, header = true, delim = ',', "
            f"quote = '\"', escape = '\"', new_line = '\\n', columns = {columns})"
        )
    elif kind == "parquet":
        reader = f"read_parquet({target})"
    else:
        reader = (
            f"read_json({target}, format = 'newline_delimited', "
            "columns = {'tier': 'VARCHAR', 'error': 'VARCHAR'})"
        )
    summary = Summary()
    counted = connection.sql(
        f"SELECT tier, error IS NOT NULL AS bad, count(*) FROM {reader} GROUP BY ALL"
    ).fetchall()
    for tier, bad, count in counted:
        summary.add(tier, bad, count)
    return summary


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
    """Classify the files into `output`, which appears only once it is whole."""
    started = time.perf_counter()
    kind = output_format(output)
    with readable(inputs) as (paths, in_kind):

        def run(parallel: bool) -> Summary:
            connection = duckdb.connect()
            connection.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")
            staged = stage(connection, ruleset.checked.inputs, paths, in_kind,
                           dict(mapping or {}), id_column, parallel,
                           required_by([ruleset.checked]))  # fmt: skip
            query, kept = _query(ruleset, staged, kind, keep_columns)
            with beside(output) as partial:
                target = _string(partial)
                connection.execute(f"COPY ({query}) TO {target} ({OUTPUTS[kind]})")
                return _counted(connection, target, kind, kept)

        summary = serially_if_needed(run)
    summary.seconds = time.perf_counter() - started
    return summary


def _query(
    ruleset: Ruleset, staged: Staged, kind: str, keep_columns: bool
) -> tuple[str, list[str]]:
    """The query whose rows are the output, and the input columns it keeps."""
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
    kept = [n for n in staged.kept if n != staged.id_name] if keep_columns else []
    query = (
        f"WITH __staged AS ({staged.sql}) "
        f"SELECT {ID} AS {quoted(staged.id_name)}{''.join(', ' + quoted(n) for n in kept)}, "
        f"tier, {labels} AS labels, rule, error "
        f"FROM ({rules})"
    )
    return query, kept
