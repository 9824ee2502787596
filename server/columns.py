"""`ClassifyColumns`' Arrow in and out, and the one place that evaluates a batch of
columns (`evaluate`).

A request's accounts arrive as one Arrow IPC stream: an id column and one column
per input. Everything that is wrong with the stream as a whole, or with a whole
column, is refused before anything is classified (`ColumnsRefused`, said as
INVALID_ARGUMENT naming the field: `arrow_stream`, `id_column`, or
`columns.NAME` with the type found and the types the input takes); everything
wrong with one row's value is that row's error, in the same words `classify`
gives it. A null is a missing value, as a key left out of a dict is.

The outcome goes back as an Arrow IPC stream with the columns `id`,
`decision_id`, `tier`, `labels`, `rule` and `error`. A decision id of a batch
is the batch's id (a UUIDv7, sortable by time) followed by "." and the row's
number, zero-padded to the batch's width, so ids sort in time and row order
and each names the place where `tierline audit` finds it (the log holds one
record per batch, pointing at a columnar segment: `server/log_segments.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import ClassifyError, Ruleset
from server.shown import MAX_ID_CHARS, MAX_STATUS_TEXT, cut, quote

INPUT_TYPES = {  # what each input kind takes, said in a refusal
    "count": "an integer column (or a float column of whole values)",
    "number": "a float or integer column",
    "percent": "a float or integer column (a fraction: 0.042 is 4.2%)",
    "text": "a string column",
    "flag": "a bool column",
    "set of text": "a list-of-string column",
}


class ColumnsRefused(Exception):
    """The stream, or a whole column, cannot be read: one sentence naming the field."""

    def __init__(self, field: str, message: str, code: str = "INVALID_ARGUMENT"):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code  # a grpc.StatusCode name


@dataclass
class Columns:
    """A request's accounts, read: ids as strings, and each declared input present."""

    ids: pa.Array  # string, "" for a null id
    inputs: dict[str, pa.Array]  # input name -> its column (one chunk), declared inputs only
    ignored: list[str]  # columns that are not inputs, sorted
    rows: int


@dataclass
class Outcome:
    """One batch's answers, a column each, row by row."""

    tier: pa.Array  # string, null: no tier
    labels: pa.Array  # list<string>
    rule: pa.Array  # string, null: no rule
    error: pa.Array  # string, null: classified

    @property
    def failed(self) -> int:
        return int(len(self.error) - self.error.null_count)


def _fits(kind: str, kind_type: pa.DataType) -> bool:
    t = kind_type
    if pa.types.is_null(t):
        return True
    if pa.types.is_dictionary(t):
        return kind == "text" and _is_text(t.value_type)
    if kind in ("count", "number", "percent"):
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t))
    if kind == "text":
        return _is_text(t)
    if kind == "flag":
        return bool(pa.types.is_boolean(t))
    if kind == "set of text":
        return (
            pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
        ) and bool(_is_text(t.value_type) or pa.types.is_null(t.value_type))
    return False


def _plain(kind: str, column: pa.Array) -> pa.Array:
    """Texts as `string` and sets as `list<string>` (from their large and fixed-size
    kinds): the one layout of each that the evaluator reads by its buffers."""
    t = column.type
    if kind == "text" and _is_text(t) and not pa.types.is_string(t):
        return column.cast(pa.string())
    if kind == "set of text" and not pa.types.is_null(t) and t != pa.list_(pa.string()):
        return column.cast(pa.list_(pa.string()))
    return column


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def read_table(data: bytes) -> pa.Table:
    """The request's Arrow IPC stream as a table; ColumnsRefused naming `arrow_stream`."""
    if not data:
        raise ColumnsRefused(
            "arrow_stream", "empty; send the accounts as an Arrow IPC stream (pyarrow.ipc)"
        )
    try:
        with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
            return reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as error:
        reason = cut(str(error).splitlines()[0] if str(error) else type(error).__name__, 200)
        raise ColumnsRefused(
            "arrow_stream", f"not a readable Arrow IPC stream ({reason})"
        ) from None


def read_columns(
    data: bytes, id_column: str, inputs: Mapping[str, str], strict: bool, max_rows: int
) -> Columns:
    """The accounts of one request, or ColumnsRefused naming what is wrong."""
    table = read_table(data)
    id_name = id_column or "id"
    names = table.column_names
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ColumnsRefused(f"columns.{cut(name, 80)}", "the column appears twice")
        seen.add(name)
    if table.num_rows > max_rows:
        raise ColumnsRefused(
            "arrow_stream",
            f"{table.num_rows:,} rows in one call; the limit is {max_rows:,}",
            "RESOURCE_EXHAUSTED",
        )
    if id_name not in seen:
        raise ColumnsRefused(
            "id_column",
            f"no column {quote(id_name)} of account ids in the stream (columns: "
            f"{', '.join(quote(n) for n in names[:20])}); name it, or set id_column",
        )
    ids = table.column(id_name).combine_chunks()
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    if pa.types.is_integer(ids.type) or _is_text(ids.type):
        ids = pc.cast(ids, pa.string())
    elif not pa.types.is_null(ids.type):
        raise ColumnsRefused(
            f"columns.{cut(id_name, 80)}",
            f"an Arrow {ids.type} column; account ids are a string or integer column",
        )
    ids = pc.fill_null(pc.cast(ids, pa.string()), "")
    ignored = sorted(n for n in names if n != id_name and n not in inputs)
    if strict and ignored:
        raise ColumnsRefused(
            f"columns.{cut(ignored[0], 80)}",
            "not an input of this ruleset (strict: columns the ruleset does not declare "
            f"are refused; undeclared: {', '.join(quote(n) for n in ignored[:20])})",
        )
    columns: dict[str, pa.Array] = {}
    for name in names:
        if name == id_name or name not in inputs:
            continue
        column = table.column(name).combine_chunks()
        kind = inputs[name]
        if not _fits(kind, column.type):
            raise ColumnsRefused(
                f"columns.{name}",
                f"an Arrow {column.type} column; the {kind} input {name} takes "
                f"{INPUT_TYPES.get(kind, 'another type')}",
            )
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        columns[name] = _plain(kind, column)
    return Columns(ids, columns, ignored, table.num_rows)


# ------------------------------------------------------------------ evaluation


def evaluate(ruleset: Ruleset, columns: Columns, hidden: frozenset[str]) -> Outcome:
    """The batch's tiers, labels, rules and per-row errors: the one function the service
    evaluates columns with, the engine's columnar evaluator (`Ruleset.classify_columns`,
    equal to `classify` row by row; a null is a missing value). The Arrow columns go in
    as they are (the evaluator reads their buffers); a null-typed column is no column.
    A row's error text is the one `classify` gives, with the values of `hidden` (masked
    or hashed) fields never quoted: those few rows are asked again of `classify` for the
    error itself, which `convert.masked` rewrites."""
    given = {n: c for n, c in columns.inputs.items() if not pa.types.is_null(c.type)}
    if not given and ruleset.inputs:  # the batch's length must come from a column
        given = {next(iter(ruleset.inputs)): [None] * columns.rows}
    answer = ruleset.classify_columns(given) if given else _no_inputs(ruleset, columns.rows)
    error = pa.array(answer["error"], pa.string())
    if hidden and error.null_count < len(error):
        error = _masked_errors(ruleset, columns, error, hidden)
    elif error.null_count < len(error) and pc.max(pc.utf8_length(error)).as_py() > MAX_STATUS_TEXT:
        error = pa.array([t if t is None else cut(t, MAX_STATUS_TEXT) for t in error.to_pylist()])
    return Outcome(
        pa.array(answer["tier"], pa.string()),
        _labels(answer["labels"]),
        pa.array(answer["rule"], pa.string()),
        error,
    )


def _no_inputs(ruleset: Ruleset, rows: int) -> dict[str, list[Any]]:
    """A ruleset that declares no input: every row is the empty account."""
    try:
        decision = ruleset.classify({})
    except ClassifyError as problem:
        return {"tier": [None] * rows, "labels": [None] * rows, "rule": [None] * rows,
                "error": [str(problem)] * rows}  # fmt: skip
    rule = decision.rule.name if decision.rule is not None else None
    return {"tier": [decision.tier] * rows, "labels": [decision.labels] * rows,
            "rule": [rule] * rows, "error": [None] * rows}  # fmt: skip


def _labels(labels: Any) -> pa.Array:
    """Label tuples as a list<string> column (null for a refused row: no decision)."""
    return pa.array(labels, pa.list_(pa.string()))


def _masked_errors(
    ruleset: Ruleset, columns: Columns, error: pa.Array, hidden: frozenset[str]
) -> pa.Array:
    texts = error.to_pylist()
    for row, text in enumerate(texts):
        if text is None:
            continue
        account = {
            name: value
            for name, column in columns.inputs.items()
            if (value := column[row].as_py()) is not None
        }
        try:
            ruleset.classify(account)
        except ClassifyError as problem:
            texts[row] = error_text(problem, hidden)
    return pa.array(texts, pa.string())


def error_text(error: ClassifyError, hidden: frozenset[str]) -> str:
    """A row's error as `Classify` would say it (masked fields' values never shown)."""
    from server.convert import masked  # convert imports the generated code; keep it lazy

    return cut(str(masked(error, hidden)), MAX_STATUS_TEXT)


def tally(outcome: Outcome, tiers: Mapping[str, str | None]) -> dict[tuple[str, str], int]:
    """(tier, rule) -> decisions, "none" for no tier or rule; refused rows left out. A
    rule decides one tier (`tiers`: rule name -> its tier), so rows are counted by rule
    alone, with one pass of `value_counts`."""
    decided = outcome.rule.filter(pc.is_null(outcome.error))
    counts = pc.value_counts(decided)
    out: dict[tuple[str, str], int] = {}
    for rule, n in zip(
        counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
    ):
        tier = tiers.get(rule) if rule is not None else None
        key = (tier or "none", rule or "none")
        out[key] = out.get(key, 0) + n
    return out


# --------------------------------------------------------------------- outcome


def decision_ids(batch_id: str, rows: int, present: pa.Array | None = None) -> pa.Array:
    """`batch_id.NNN` for every row, the number zero-padded to the batch's width; null
    where `present` (a bool column without nulls) is false. Every id has the same
    length, so the string column is built straight from one byte matrix (a row of
    bytes per id), its offsets and `present`'s bits as validity: no Python string per
    row, no copy to blank the nulls."""
    width = len(str(max(rows - 1, 0)))
    prefix = np.frombuffer((batch_id + ".").encode("ascii"), dtype=np.uint8)
    size = len(prefix) + width
    matrix = np.empty((rows, size), dtype=np.uint8)
    matrix[:, : len(prefix)] = prefix
    numbers = np.arange(rows, dtype=np.int64)
    for place in range(width):
        matrix[:, size - 1 - place] = numbers // 10**place % 10 + ord("0")
    large = (rows + 1) * size >= 2**31  # past 32-bit offsets: a large_string
    offsets = np.arange(0, (rows + 1) * size, size, dtype=np.int64 if large else np.int32)
    kind = pa.large_string() if large else pa.string()
    validity = None
    if present is not None and not pc.all(present).as_py():
        if present.offset % 8:
            present = pa.concat_arrays([present])  # a copy starting at bit 0
        validity = present.buffers()[1]
    return pa.Array.from_buffers(
        kind, rows, [validity, pa.py_buffer(offsets), pa.py_buffer(matrix)]
    )


def too_long_ids(columns: Columns, outcome: Outcome) -> Outcome:
    """Rows whose id is longer than `MAX_ID_CHARS` get an error instead of a decision,
    as in ClassifyBatch."""
    lengths = pc.utf8_length(columns.ids)
    long = pc.greater(lengths, MAX_ID_CHARS)
    if not pc.any(long).as_py():
        return outcome
    said = pc.binary_join_element_wise(
        "id: ",
        pc.cast(lengths, pa.string()),
        f" characters; at most {MAX_ID_CHARS:,}",
        "",
    )
    nothing = pa.nulls(columns.rows, pa.string())
    return Outcome(
        pc.if_else(long, nothing, outcome.tier),
        pc.if_else(long, pa.nulls(columns.rows, outcome.labels.type), outcome.labels),
        pc.if_else(long, nothing, outcome.rule),
        pc.if_else(long, said, outcome.error),
    )


def outcome_table(columns: Columns, outcome: Outcome, batch_id: str) -> pa.Table:
    ids = decision_ids(batch_id, columns.rows, pc.is_null(outcome.error))
    return pa.table(
        {
            "id": columns.ids,
            "decision_id": ids,
            "tier": outcome.tier,
            "labels": outcome.labels,
            "rule": outcome.rule,
            "error": outcome.error,
        }
    )


def ipc_bytes(table: pa.Table) -> bytes:
    """The table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def segment_table(columns: Columns, outcome: Outcome) -> pa.Table:
    """What the decision log keeps of a batch (before masking, which the writer does):
    each row's account id, answer and inputs as received; a row's decision id is the
    batch's id and its row number."""
    inputs: dict[str, Any] = dict(columns.inputs)
    struct = (
        pa.StructArray.from_arrays(list(inputs.values()), list(inputs))
        if inputs
        else pa.nulls(columns.rows, pa.struct([]))
    )
    return pa.table(
        {
            "account_id": columns.ids,
            "tier": outcome.tier,
            "labels": outcome.labels,
            "rule": outcome.rule,
            "error": outcome.error,
            "input": struct,
        }
    )
