"""`ClassifyColumns` throughput (issue 29), measured in one run on loopback.

Side by side, in turns, ROUNDS times, medians:
- flat: the row ceiling of `benchmarks/grpc_speed.py`, a bare grpcio server whose
  proto has a typed field per input, classifying batches of 1,000 by hand;
- tierline `ClassifyColumns`, 100,000 accounts per call as one Arrow IPC stream,
  with the decision log off, and on (to a file: one record line and one columnar
  segment per batch); with the log on the window is stretched until the log has
  stopped growing, so a writer that falls behind cannot flatter the figure.
Agreement: before timing, one call's answers are compared with `classify` row by row.
Run: `.venv/bin/python -m benchmarks.run columns_speed` (TIERLINE_BENCH_SECONDS,
TIERLINE_BENCH_ROUNDS set the window and the rounds; a call of 100,000 accounts
takes a second or more on a loaded machine, so give it windows of 10 s there).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa

from benchmarks.accounts import accounts
from benchmarks.grpc_speed import FLAT_METHOD, ROUNDS, SECONDS, Server, flat_messages, measure
from engine import ClassifyError, load_ruleset
from server.pb import pb, pb_grpc

ROOT = Path(__file__).resolve().parent.parent
ROWS = 100_000
THREADS = 2


def _table(sample: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "id": [str(i) for i in range(len(sample))],
            "followers": pa.array([a["followers"] for a in sample], pa.int64()),
            "engagement_rate": pa.array([a["engagement_rate"] for a in sample], pa.float64()),
            "topics": pa.array([list(a["topics"]) for a in sample], pa.list_(pa.string())),
            "platform": pa.array([a["platform"] for a in sample], pa.string()),
        }
    )


def _stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _outcome(response: pb.ClassifyColumnsResponse) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(response.arrow_stream)) as reader:
        return reader.read_all()


def _agrees(port: int, request: pb.ClassifyColumnsRequest, sample: list[dict[str, Any]]) -> None:
    """The answers equal `classify` row by row, or the figures mean nothing."""
    ruleset = load_ruleset(ROOT / "rules" / "synthesis.tiers")
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=_OPTIONS) as channel:
        got = _outcome(pb_grpc.ClassifierStub(channel).ClassifyColumns(request, timeout=120))
    for account, tier, error in zip(
        sample, got.column("tier").to_pylist(), got.column("error").to_pylist(), strict=True
    ):
        try:
            want, refused = ruleset.classify(account).tier, None
        except ClassifyError as failure:
            want, refused = None, str(failure)
        if (tier, error) != (want, refused):
            raise AssertionError(f"ClassifyColumns disagrees with classify on {account}")


_OPTIONS = [("grpc.max_receive_message_length", 64 << 20)]


def _ratio(over: float, under: float) -> str:
    """A round in which no call of 100,000 fit the window (a loaded machine) has no ratio."""
    return f"{over / under:.2f}" if under else "n/a"


def main() -> list[tuple[str, str]]:
    sample = accounts(ROWS)
    request = pb.ClassifyColumnsRequest(ruleset="synthesis", arrow_stream=_stream(_table(sample)))
    flat_batch, flat_results, _decision = flat_messages()
    flat_request = flat_batch(
        accounts=[
            {
                "id": str(i),
                "followers": a["followers"],
                "engagement_rate": a["engagement_rate"],
                "topics": a["topics"],
                "platform": a["platform"],
            }
            for i, a in enumerate(sample[:1000])
        ]
    )

    def flat_stub(channel: grpc.Channel) -> Any:
        return channel.unary_unary(
            FLAT_METHOD,
            request_serializer=flat_batch.SerializeToString,
            response_deserializer=flat_results.FromString,
        )

    def flat(call: Any) -> int:
        return len(call(flat_request, timeout=60).results)

    def columns(stub: pb_grpc.ClassifierStub) -> int:
        return int(_outcome(stub.ClassifyColumns(request, timeout=120)).num_rows)

    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "decisions.log"
        servers = {
            "flat": Server("flat"),
            "columns": Server("tierline"),
            "columns+log": Server("tierline", log),
        }
        try:
            _agrees(servers["columns"].port, request, sample)
            for _round in range(ROUNDS):
                for kind, server in servers.items():
                    if kind == "flat":
                        rate, _ = measure(THREADS, flat, server.port, None, flat_stub)
                    else:
                        logged = log if kind == "columns+log" else None
                        rate, _ = measure(THREADS, columns, server.port, logged)
                    rates.setdefault(kind, []).append(rate)
        finally:
            for server in servers.values():
                server.stop()
        segments = len(list((Path(tmp) / "segments").glob("*.arrow")))
    median = {kind: statistics.median(r) for kind, r in rates.items()}
    each = ", ".join(f"{c / f:.2f}" for c, f in zip(rates["columns"], rates["flat"], strict=True))
    logged = ", ".join(
        f"{on / off:.2f}" for on, off in zip(rates["columns+log"], rates["columns"], strict=True)
    )
    return [
        ("flat proto, batches of 1,000 (the row ceiling), accounts/s", f"{median['flat']:,.0f}"),
        (f"ClassifyColumns, {ROWS:,} per call, log off, accounts/s", f"{median['columns']:,.0f}"),
        (
            f"ClassifyColumns, {ROWS:,} per call, log on, accounts/s",
            f"{median['columns+log']:,.0f}",
        ),
        (
            "ClassifyColumns log off / flat ceiling (median; each round)",
            f"{_ratio(median['columns'], median['flat'])} ({each})",
        ),
        (
            "ClassifyColumns log on / log off (median; each round)",
            f"{_ratio(median['columns+log'], median['columns'])} ({logged})",
        ),
        ("segments written with the log on", f"{segments:,}"),
        ("rounds, seconds each, callers", f"{ROUNDS} rounds of {SECONDS:g} s, {THREADS} callers"),
    ]
