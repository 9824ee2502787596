"""Files as DuckDB tables, and their cells as the values the rules declare.

Exports are messy: CSV cells hold `475.8m`, `3.3k`, `1.39%` and `12,000`; a
text export draws a line of `=` under its header; headers repeat or carry
spaces and newlines. So CSV and text files are read with every cell as text,
and each input's cell is read as its type by `cells.py` (the same reading as
on Spark); a cell that holds something else is refused by the rules with
what it said. A row whose first cell is only `=`, `-` or `+` and whose other
cells are empty is a drawing, not a row, and is left out.
Parquet and JSON-lines columns keep their own types. DuckDB names a repeated
header `name_1`, `name_2`. What the staging selects is `plan.plan_stage`'s, as
on Spark (the columns matched by `columns.py`); here it becomes one DuckDB query.
"""

from __future__ import annotations

import codecs
import glob
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

from engine.checker.model import CheckedRuleset, Input
from engine.language.ast import TypeName
from tierline.tables import cells
from tierline.tables.cells import quoted
from tierline.tables.columns import TableError
from tierline.tables.plan import ID, TEXT_KINDS, StagePlan, plan_stage

T = TypeName
R = TypeVar("R")
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip


@dataclass(frozen=True)
class Staged:
    """The DuckDB query of a staging `plan` (`plan.plan_stage`): the files' rows with
    each input read as its type, its unreadable cells, the id (`__id`)."""

    sql: str
    plan: StagePlan

    @property
    def columns(self) -> dict[str, str]:  # input -> staged column
        return self.plan.columns

    @property
    def unreadable(self) -> dict[str, str]:  # input -> staged column of unreadable cells
        return self.plan.unreadable

    @property
    def id_name(self) -> str:  # the output's id column: the --id column's name, or "row"
        return self.plan.id_name

    @property
    def kept(self) -> list[str]:  # the source's columns, for --keep-columns
        return self.plan.names


def files(patterns: list[str]) -> tuple[list[str], str]:
    """The files the patterns name (globs expanded), and their one format."""
    found: list[str] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched:
            raise TableError(f"{pattern}: no file matches")
        for path in matched:
            if not Path(path).is_file():
                raise TableError(f"{path}: no such file")
        found += matched
    kinds = {FORMATS.get(Path(p).suffix.lower()) for p in found}
    if None in kinds:
        bad = next(p for p in found if Path(p).suffix.lower() not in FORMATS)
        raise TableError(
            f"{bad}: cannot tell the format from the extension; use one of "
            + ", ".join(sorted(FORMATS))
        )
    if len(kinds) > 1:
        raise TableError("the inputs mix formats: " + ", ".join(sorted(k for k in kinds if k)))
    return found, next(k for k in kinds if k)


_CHUNK = 1 << 20


@contextmanager
def readable(patterns: list[str]) -> Iterator[tuple[list[str], str]]:
    """`files(patterns)`, with each text file that is not valid UTF-8 read from a UTF-8
    copy in a temporary folder (removed when the block ends) in which what is not UTF-8
    is U+FFFD, said on stderr. DuckDB refuses such a file outright (scraped
    exports carry stray bytes in names), and one bad byte in a name should not stop a
    run that reads counts; the rows stay, in their order."""
    paths, kind = files(patterns)
    folder: tempfile.TemporaryDirectory[str] | None = None
    try:
        read: list[str] = []
        for i, path in enumerate(paths):
            if kind not in TEXT_KINDS or _is_utf8(path):
                read.append(path)
                continue
            folder = folder or tempfile.TemporaryDirectory(prefix="tierline-")
            copy = Path(folder.name) / f"{i}{Path(path).suffix}"
            replaced = _utf8_copy(path, copy)
            print(
                f"tierline: {path} is not UTF-8: {replaced:,} bytes that are not were read "
                "as U+FFFD (�)",
                file=sys.stderr,
            )
            read.append(str(copy))
        yield read, kind
    finally:
        if folder is not None:
            folder.cleanup()


def _is_utf8(path: str) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _utf8_copy(path: str, copy: Path) -> int:
    """Copy `path` to `copy` with each sequence of bytes that is not UTF-8 as U+FFFD, as
    Python's errors="replace" does; how many bytes were."""
    replaced = 0

    def count(error: UnicodeError) -> tuple[str, int]:
        nonlocal replaced
        assert isinstance(error, UnicodeDecodeError)
        replaced += error.end - error.start
        return "\ufffd", error.end  # one for each bad sequence, as errors="replace"

    codecs.register_error("tierline-count", count)
    decoder = codecs.getincrementaldecoder("utf-8")("tierline-count")
    with open(path, "rb") as source_file, open(copy, "w", encoding="utf-8", newline="") as out:
        while chunk := source_file.read(_CHUNK):
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))
    return replaced


def serially_if_needed(run: Callable[[bool], R]) -> R:
    """`run(True)`, reading CSV files in parallel; again with `run(False)` when DuckDB
    says that its parallel reader cannot read these files (a quoted field with a line
    break, with rows of too few cells padded: posts with their text, as exports have).
    The failure comes at the first such field, before any result is kept."""
    try:
        return run(True)
    except duckdb.Error as error:
        if "parallel=false" not in str(error):
            raise
        return run(False)


def source(paths: list[str], kind: str, parallel: bool = True) -> str:
    """The DuckDB table function that reads the files."""
    listed = "[" + ", ".join(_string(p) for p in paths) + "]"
    if kind == "parquet":
        return f"read_parquet({listed})"
    if kind == "json":
        return f"read_json({listed}, format = 'newline_delimited')"
    delim = ", delim = '\t'" if kind == "tsv" else ""
    return (
        f"read_csv({listed}, header = true, all_varchar = true, null_padding = true, "
        "quote = '\"', escape = '\"', "
        f"strict_mode = false{delim}{'' if parallel else ', parallel = false'})"
    )


def stage(
    connection: duckdb.DuckDBPyConnection,
    inputs: Mapping[str, Input],
    paths: list[str],
    kind: str,
    mapping: dict[str, str],
    id_column: str | None,
    parallel: bool = True,
    needed_by: Mapping[str, Sequence[CheckedRuleset]] | None = None,
) -> Staged:
    """The files staged as `plan.plan_stage` describes, as one DuckDB SELECT."""
    reader = source(paths, kind, parallel)
    described = connection.sql(f"SELECT * FROM {reader} LIMIT 0")
    types = dict(zip(described.columns, (str(t) for t in described.types), strict=True))

    def read_column(decl: Input, column: str) -> tuple[str, str | None]:
        return _read(decl, column, types[column])

    plan = plan_stage("duckdb", inputs, list(types), kind, mapping, id_column, read_column,
                      needed_by)  # fmt: skip
    selected = ["__src.*", *(f"{sql} AS {quoted(name)}" for sql, name in plan.selected)]
    number = "row_number() OVER ()" if plan.id_column is None else quoted(plan.id_column)
    selected.append(f"{number} AS {ID}")
    where = "" if plan.keep is None else f" WHERE {plan.keep}"
    return Staged(f"SELECT {', '.join(selected)} FROM {reader} AS __src{where}", plan)


def _read(decl: Input, name: str, sql_type: str) -> tuple[str, str | None]:
    """(the value as the input's type, the cell where it is not one, or None)."""
    base = sql_type.split("(")[0]
    column = quoted(name)
    if base == "VARCHAR":  # a text cell (every cell of a CSV file)
        value, bad = cells.read(decl.type, name, "duckdb")
        return value, None if bad == "NULL" else bad
    typed = {
        T.COUNT: base in _NUMERIC,
        T.NUMBER: base in _NUMERIC,
        T.PERCENT: base in _NUMERIC,
        T.FLAG: base == "BOOLEAN",
        T.TEXT_SET: sql_type.endswith("[]"),
        T.TEXT: False,
    }
    if typed[decl.type] and decl.type is T.TEXT_SET and sql_type != "VARCHAR[]":
        return _texts(column, sql_type), None
    if typed[decl.type]:
        return column, None
    return "NULL", f"CAST({column} AS VARCHAR)"  # a column of another type: every cell refused


def _texts(column: str, sql_type: str) -> str:
    """A list column of another element type as texts: DuckDB types a JSON-lines array
    that is empty in every row it samples `JSON[]`, whose items are JSON ("fashion" with
    its quotes); a list of numbers is written as the numbers."""
    if sql_type == "JSON[]":
        return f"list_transform({column}, lambda x: json_extract_string(x, '$'))"
    return f"CAST({column} AS VARCHAR[])"


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
