"""Files as DuckDB tables, and their cells as the values the rules declare.

Exports are messy: CSV cells hold `475.8m`, `3.3k`, `1.39%` and `12,000`; a
text export draws a line of `=` under its header; headers repeat or carry
spaces and newlines. So CSV and text files are read with every cell as text,
and each input's cell is read as its type by `cells.py` (the same reading as
on Spark); a cell that holds something else is refused by the rules with
what it said. A row whose first cell is only `=`, `-` or `+` and whose other
cells are empty is a drawing, not a row, and is left out.
Parquet and JSON-lines columns keep their own types. Column names: DuckDB
names a repeated header `name_1`, `name_2`; `--map` and `--id` find a column
by its name with runs of spaces and newlines read as one space, trimmed.
"""

from __future__ import annotations

import codecs
import glob
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

from engine.checker.model import CheckedRuleset, Input, names_in
from engine.language.ast import TypeName
from tierline.tables import cells
from tierline.tables.cells import quoted

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


class TableError(Exception):
    """The files or their columns cannot be classified as asked (a usage error)."""


@dataclass(frozen=True)
class Staged:
    """A SELECT over the files with each input read as its type (`__in_<name>`), the
    cell that could not be (`__bad_<name>`), the id (`__id`) and the row (`__row`)."""

    sql: str
    columns: dict[str, str]  # input -> staged column
    unreadable: dict[str, str]  # input -> staged column of unreadable cells
    id_name: str  # the output's id column: the --id column's name, or "row"
    kept: list[str]  # the source's columns, for --keep-columns


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


TEXT_KINDS = ("csv", "tsv", "text")
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
    reader = source(paths, kind, parallel)
    described = connection.sql(f"SELECT * FROM {reader} LIMIT 0")
    types = dict(zip(described.columns, (str(t) for t in described.types), strict=True))
    names = list(types)
    found, id_name = match_columns(inputs, names, mapping, id_column, needed_by)
    selected = ["__src.*"]
    columns: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for name, decl in inputs.items():
        read = [_read(decl, column, types[column]) for column in found[name]]
        values = [value for value, _bad in read]
        bads = [bad for _value, bad in read if bad is not None]
        if not read:
            value = "NULL"
        elif len(read) == 1:
            value = values[0]
        else:
            value = cells.union(values, "duckdb")
        selected.append(f"{value} AS {quoted('__in_' + name)}")
        if bads:
            bad = bads[0] if len(bads) == 1 else f"coalesce({', '.join(bads)})"
            selected.append(f"{bad} AS {quoted('__bad_' + name)}")
            unreadable[name] = "__bad_" + name
        columns[name] = "__in_" + name
    found_id = None if id_name == "row" else id_name
    selected.append(f"{quoted(found_id)} AS __id" if found_id else "row_number() OVER () AS __id")
    where = ""
    if kind in ("csv", "tsv", "text") and names:
        others = " AND ".join(f"{quoted(n)} IS NULL" for n in names[1:]) or "true"
        where = f" WHERE NOT ({cells.drawn(names[0], 'duckdb')} AND {others})"
    sql = f"SELECT {', '.join(selected)} FROM {reader} AS __src{where}"
    return Staged(sql, columns, unreadable, id_name, names)


def inputs_of(rulesets: list[CheckedRuleset]) -> dict[str, Input]:
    """The inputs that several rulesets read from one table: an input two rulesets
    declare must have one type in both, and it is optional only if it is in each."""
    merged: dict[str, Input] = {}
    for checked in rulesets:
        for name, decl in checked.inputs.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = decl
            elif seen.type is not decl.type:
                raise TableError(
                    f"the rulesets read {name} as different types: {seen.type.value} in one, "
                    f"{decl.type.value} in {checked.name}; give it one type in every file"
                )
            elif seen.optional and not decl.optional:
                merged[name] = decl
    return merged


def match_columns(
    inputs: Mapping[str, Input],
    names: list[str],
    mapping: Mapping[str, str],
    id_column: str | None,
    needed_by: Mapping[str, Sequence[CheckedRuleset]] | None = None,
) -> tuple[dict[str, tuple[str, ...]], str]:
    """Each input's columns (none: an optional input the files lack; several: a set of
    text read from several, `--map topics=category_1,category_2`) and the id column
    ("row" when there is none); TableError for what cannot be matched, on any engine.
    `needed_by` names the rulesets that require each input, for the message when the
    files lack it."""
    unknown = sorted(set(mapping) - set(inputs))
    if unknown:
        raise TableError(
            f"--map names {', '.join(unknown)}, which the rules do not declare "
            f"(inputs: {', '.join(inputs)})"
        )
    found: dict[str, tuple[str, ...]] = {}
    for name, decl in inputs.items():
        if name in mapping:
            found[name] = _mapped(decl, mapping[name], names)
            continue
        column = find_column(names, name, False)
        if column is None and not decl.optional:
            raise TableError(_lacking(decl, names, (needed_by or {}).get(name, ())))
        found[name] = () if column is None else (column,)
    found_id = find_column(names, id_column or "id", id_column is not None)
    if id_column is not None and found_id is None:
        raise TableError(f"--id {id_column}: no such column; the files have {_listing(names)}")
    return found, found_id or "row"


def _mapped(decl: Input, mapped: str, names: list[str]) -> tuple[str, ...]:
    """The columns of `--map NAME=MAPPED`: a column of that name (commas and all), or
    the columns it lists between commas, which only a set of text may have."""
    whole = find_column(names, mapped, True)
    if whole is not None:
        return (whole,)
    try:
        parts = cells.several(mapped)
    except ValueError as error:
        raise TableError(f"--map {decl.name}={mapped}: {error}") from None
    if len(parts) > 1 and decl.type is not T.TEXT_SET:
        raise TableError(
            f"--map {decl.name}={mapped}: {decl.name} is a {decl.type.value}, read from one "
            "column; only a set of text takes several (the union of their items)"
        )
    columns = [find_column(names, part, True) for part in parts]
    missing = [part for part, column in zip(parts, columns, strict=True) if column is None]
    if missing:
        raise TableError(
            f"--map {decl.name}={mapped}: the files have no column "
            f"{', '.join(repr(m) for m in missing)}; they have {_listing(names)}"
        )
    return tuple(c for c in columns if c is not None)


_DEFAULTS = {T.COUNT: "default 0", T.NUMBER: "default 0", T.PERCENT: "default 0%",
             T.TEXT: 'default ""', T.FLAG: "default false", T.TEXT_SET: ""}  # fmt: skip


def _lacking(decl: Input, names: list[str], needed_by: Sequence[CheckedRuleset]) -> str:
    """Why the files cannot be classified without a column for `decl`, and the ways out:
    `--map`, or, when no tier reads it (only labels do, or nothing), declaring it
    optional; a tier that reads a default instead of the account's value would be an
    answer that looks right and is not, so that is not offered."""
    rulesets = list(dict.fromkeys(r.name for r in needed_by))  # diff: old and new, once
    listed = ", ".join(rulesets)
    who = ""
    if rulesets:
        who = (
            f", which ruleset {listed} requires"
            if len(rulesets) == 1
            else f", which rulesets {listed} require"
        )
    said = (
        f"no column for the input {decl.name}{who}: the files have {_listing(names)}; "
        f"use --map {decl.name}=COLUMN"
    )
    if rulesets and not any(_tiers_read(r, decl.name) for r in needed_by):
        declared = f"input {decl.name}: {decl.type.value} optional {_DEFAULTS[decl.type]}"
        said += (
            f"; or, since no tier of {listed} reads it, declare it optional "
            f"{'there' if len(rulesets) == 1 else 'in each'}: `{declared.rstrip()}`"
        )
    return said


def _tiers_read(ruleset: CheckedRuleset, name: str) -> bool:
    reading = ruleset.depending_on([name])
    return any(r.when is not None and names_in(r.when) & reading for r in ruleset.tiers)


def required_by(rulesets: Sequence[CheckedRuleset]) -> dict[str, list[CheckedRuleset]]:
    """For each input, the rulesets that require it (declare it, not optional)."""
    found: dict[str, list[CheckedRuleset]] = {}
    for checked in rulesets:
        for name, decl in checked.inputs.items():
            if not decl.optional:
                found.setdefault(name, []).append(checked)
    return found


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


def _normal(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def find_column(names: list[str], wanted: str, asked: bool) -> str | None:
    """The column named `wanted`, exactly or with its spaces and newlines normalised."""
    if wanted in names:
        return wanted
    matches = [n for n in names if _normal(n) == _normal(wanted)]
    if len(matches) > 1 and asked:
        raise TableError(f"{wanted!r} could be any of {_listing(matches)}; name one exactly")
    return matches[0] if len(matches) == 1 else None


def _listing(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
