"""Columnar segments of the decision log: one record line per batch, its rows in a file
beside the log.

A line per decision costs the writer a JSON object and its reasons each; at a
million decisions a second that is the whole machine. A `ClassifyColumns` batch
is instead written as one Arrow IPC file (`segments/BATCH_ID.arrow` in the log's
folder, LZ4-compressed) holding each row's account id, tier, labels, rule, error
and inputs (masked and hashed as the log masks them), and one line in the log:

    {"event":"decision_batch","batch_id":…,"ts":…,"ruleset":…,"version":…,
     "digest":…,"rows":N,"decided":D,"failed":F,"segment":"segments/….arrow",
     "segment_sha256":HEX,"segment_bytes":B,"masked":{…},"latency_us":…,"rpc":…,
     "request_id":…,"peer":…,"caller":…,"level":"info","logger":"tierline.decisions"}

The line commits to its segment's SHA-256, and with a signing key the line is
chained and signed like every other (`server/log_chain.py`): `tierline audit
verify` hashes each segment and names one that was edited or is missing. The
writer writes a segment (to a temporary name, then renamed: never half a file
under its name) before the bytes of its record line: a record in the log always
has its segment. A batch written again after a writer's restart finds its
segment already there with the same bytes (the encoding is deterministic) and
keeps it. A row's decision id is the batch id, ".", and its row number
(`server/columns.py`); `tierline audit` reads the rows back from here.

pyarrow is imported where it is used, not with this module: the log writer (a
process started again after every crash) and `tierline audit verify` load this
module, and a writer slow to start is a longer window without a writer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.decision import Decider, iso_ts_bytes
from server.log_lines import Masker

if TYPE_CHECKING:
    import pyarrow as pa

SEGMENTS = "segments"
RECORD_PREFIX = b'{"event":"decision_batch"'
COMPRESSION = "lz4"


def segments_dir(target: str) -> Path:
    """The folder of a log's segments: `segments/` beside the log (the working folder's
    for a log on stdout, said in full in each record's `segment`)."""
    if target == "-":
        return Path(SEGMENTS).absolute()
    return Path(os.path.dirname(os.path.abspath(target))) / SEGMENTS


@dataclass
class Segment:
    """A segment to write before the byte `at` of the writer's queue (its record line)."""

    at: int
    path: Path
    data: bytes
    sha256: str


def _masked_column(masker: Masker, name: str, column: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if name in masker.redact:
        present = pc.is_valid(column)
        return pc.if_else(present, pa.scalar("***"), pa.scalar(None, pa.string()))
    values = column.to_pylist()
    return pa.array([None if v is None else masker.value(name, v) for v in values], pa.string())


def masked_table(table: pa.Table, masker: Masker) -> tuple[pa.Table, dict[str, str]]:
    """The segment table with masked and hashed inputs replaced; and which, how."""
    import pyarrow as pa

    if not masker.active:
        return table, {}
    inputs = table.column("input").combine_chunks()
    if not isinstance(inputs, pa.StructArray) or not inputs.type.num_fields:
        return table, {}
    names = [inputs.type.field(i).name for i in range(inputs.type.num_fields)]
    fields = [
        _masked_column(masker, n, inputs.field(i)) if masker.hides(n) else inputs.field(i)
        for i, n in enumerate(names)
    ]
    struct = pa.StructArray.from_arrays(fields, names)
    index = table.column_names.index("input")
    return table.set_column(index, "input", struct), masker.which(names)


def encode_segment(table: pa.Table) -> bytes:
    """An Arrow IPC file: random access for `tierline audit`, the same bytes for the
    same table (so a batch written twice keeps one segment)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=COMPRESSION)
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_stream(data: bytes) -> pa.Table:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


class Segments:
    """The writer's side: builds each batch's segment and record line, and writes segments."""

    def __init__(self, target: str, masker: Masker):
        self.folder = segments_dir(target)
        self.shown_folder = SEGMENTS if target != "-" else str(self.folder)
        self.masker = masker
        self.error = ""

    def build(
        self,
        ruleset: Decider,
        batch_id: str,
        time_ns: int,
        data: bytes,
        context: dict[str, Any],
        at: int,
    ) -> tuple[Segment, bytes]:
        """(the segment, to be written before byte `at` of the queue; its record line)."""
        table, masked = masked_table(read_stream(data), self.masker)
        encoded = encode_segment(table)
        sha = hashlib.sha256(encoded).hexdigest()
        errors = table.column("error")
        failed = len(errors) - errors.null_count
        name = f"{batch_id}.arrow"
        record: dict[str, Any] = {
            "event": "decision_batch",
            "batch_id": batch_id,
            "ts": iso_ts_bytes(time_ns).decode(),
            "ruleset": ruleset.name,
            "version": ruleset.version,
            "digest": ruleset.digest,
            "rows": table.num_rows,
            "decided": table.num_rows - failed,
            "failed": failed,
            "segment": f"{self.shown_folder}/{name}",
            "segment_sha256": sha,
            "segment_bytes": len(encoded),
            "rule_file": next((r.file for r in ruleset.program.checked.tiers), ""),
        }
        if masked:
            record["masked"] = masked
        record.update(context)
        record.update({"level": "info", "logger": "tierline.decisions"})
        line = orjson.dumps(record) + b"\n"
        return Segment(at, self.folder / name, encoded, sha), line

    def write(self, segment: Segment) -> bool:
        """Write it (temporary name, then rename); False with `error` set when it cannot
        be written now (a full disk: tried again, as lines are)."""
        path = segment.path
        try:
            if path.exists() and sha256_file(path) == segment.sha256:
                self.error = ""
                return True  # the same batch, written before a restart
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                with open(temporary, "wb") as handle:
                    handle.write(segment.data)
                os.replace(temporary, path)
            except OSError:
                with contextlib.suppress(OSError):
                    temporary.unlink()
                raise
        except OSError as failure:
            self.error = f"cannot write the segment {path}: {failure.strerror or failure}"
            return False
        self.error = ""
        return True


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """In constant memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def segment_path(record: dict[str, Any], log_path: Path) -> Path:
    """Where a record's segment is: relative to the log file's folder (or absolute)."""
    shown = Path(str(record.get("segment", "")))
    return shown if shown.is_absolute() else log_path.resolve().parent / shown


def read_segment(path: Path) -> pa.Table:
    import pyarrow as pa

    with pa.memory_map(str(path), "r") as source:
        return pa.ipc.open_file(source).read_all()


def row_of(decision_id: str) -> tuple[str, int] | None:
    """(batch id, row) of a batch's decision id; None for a decision id of its own."""
    batch, dot, number = decision_id.rpartition(".")
    if not dot or len(batch) != 36 or not number.isdigit():
        return None
    return batch, int(number)


def row_number_width(rows: int) -> int:
    return len(str(max(rows - 1, 0)))


def row_event(record: dict[str, Any], table: pa.Table, row: int) -> dict[str, Any]:
    """One row of a segment as the decision-log line it stands for (without reasons:
    `tierline audit` recomputes them from the archived rules)."""
    width = row_number_width(int(record.get("rows", table.num_rows)))
    values = {name: table.column(name)[row].as_py() for name in table.column_names}
    inputs = values.get("input") or {}
    rule = values.get("rule")
    event: dict[str, Any] = {
        "event": "decision",
        "decision_id": f"{record['batch_id']}.{row:0{width}d}",
        "ts": record.get("ts", ""),
        "ruleset": record.get("ruleset"),
        "version": record.get("version"),
        "digest": record.get("digest"),
        "account_id": values.get("account_id"),
        "tier": values.get("tier"),
        "labels": values.get("labels") or [],
        "rule": None if rule is None else {"name": rule},
        "input": {k: v for k, v in inputs.items() if v is not None},
        "error": values.get("error"),
        "batch_id": record["batch_id"],
        "row": row,
        "segment": record.get("segment"),
    }
    if record.get("masked"):
        event["masked"] = record["masked"]
    for key in ("latency_us", "rpc", "request_id", "peer", "caller", "rule_file"):
        if record.get(key) is not None:
            event[key] = record[key]
    return event


def rows_of_account(table: pa.Table, account_id: str) -> list[int]:
    """The rows of `account_id` that were classified (not refused), in row order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    match = pc.and_(
        pc.equal(table.column("account_id"), pa.scalar(account_id)),
        pc.is_null(table.column("error")),
    )
    indices = pc.indices_nonzero(pc.fill_null(match, False))
    return [int(i) for i in indices.to_pylist()]
