"""gRPC throughput (issues 4 and 5), measured in one run on loopback.

Servers run in their own processes; the load comes from this process.
- baseline: a bare grpcio server with the same proto whose servicer converts
  the account and calls a hand-written if/elif classifier (no validation, no
  decision ids, no log, no metrics): the cost of gRPC itself in Python;
- flat: the ceiling of a batch, a bare grpcio server whose proto has a typed
  field per input (`int64 followers`, `double engagement_rate`, …) instead of
  tierline's `map<string, Value>`, with the same hand-written classifier;
- tierline with the decision log off, and with it on (to a file).
With the log on, "sustained" stretches the measured window until the log
holds every decision, so a writer that falls behind cannot flatter the
figure. The three
servers run side by side and take turns, ROUNDS times per workload; each
figure is the median of its rounds, so that the machine's drifts in load
(large here: it is shared) hit all three alike.
Run: `make bench`, or `.venv/bin/python -m benchmarks.run grpc_speed`.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from benchmarks.accounts import accounts
from server.client import account_message
from server.pb import pb, pb_grpc
from tests.real_server import free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("TIERLINE_BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("TIERLINE_BENCH_ROUNDS", "3"))


# ------------------------------------------------------------------ baseline


def _classify_by_hand(values: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    followers = values["followers"]
    high = values["engagement_rate"] >= 0.035
    if followers >= 1_000_000:
        tier = "mega"
    elif 100_000 <= followers <= 1_000_000:
        tier = "macro"
    elif 10_000 <= followers <= 100_000 and high:
        tier = "micro"
    elif 1_000 <= followers <= 10_000:
        tier = "nano"
    else:
        tier = ""
    labels: tuple[str, ...] = ()
    topics = values["topics"]
    if high and "fashion" in topics:
        labels += ("fashion_expert",)
    if high and ("tech" in topics or "gaming" in topics):
        labels += ("tech_expert",)
    return tier, tier or "none", labels


class _Baseline(pb_grpc.ClassifierServicer):
    def _decide(self, account: pb.Account) -> pb.ClassifyResponse:
        values = {}
        for name, value in account.attributes.items():
            kind = value.WhichOneof("kind")
            values[name] = (
                list(value.string_list.values) if kind == "string_list" else getattr(value, kind)
            )
        tier, rule, labels = _classify_by_hand(values)
        return pb.ClassifyResponse(
            account_id=account.id,
            decision=pb.Decision(
                account_id=account.id,
                ruleset="synthesis",
                tier=tier,
                has_tier=bool(tier),
                labels=labels,
                rule=pb.MatchedRule(name=rule, kind="tier"),
            ),
        )

    def Classify(self, request: pb.ClassifyRequest, context: Any) -> pb.ClassifyResponse:
        return self._decide(request.account)

    def ClassifyBatch(
        self, request: pb.ClassifyBatchRequest, context: Any
    ) -> pb.ClassifyBatchResponse:
        return pb.ClassifyBatchResponse(results=[self._decide(a) for a in request.accounts])

    def ClassifyStream(
        self, requests: Iterator[pb.ClassifyRequest], context: Any
    ) -> Iterator[pb.ClassifyResponse]:
        for request in requests:
            yield self._decide(request.account)


def flat_messages() -> tuple[Any, Any, Any]:
    """The flat proto's batch request, response and decision classes, built from a descriptor
    here (no generated code): an Account of typed fields, a Decision of strings."""
    from google.protobuf import descriptor_pb2, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="flatbench.proto", package="flatbench", syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, bool, str]) -> None:
        added = proto.message_type.add(name=name)
        for number, (field_name, kind, repeated, type_name) in enumerate(fields, 1):
            label = field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL
            added.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.field[-1].type_name = type_name

    text, many = field.TYPE_STRING, True
    message(
        "Account",
        ("id", text, False, ""),
        ("followers", field.TYPE_INT64, False, ""),
        ("engagement_rate", field.TYPE_DOUBLE, False, ""),
        ("topics", text, many, ""),
        ("platform", text, False, ""),
    )
    message(
        "Decision",
        ("account_id", text, False, ""),
        ("tier", text, False, ""),
        ("rule", text, False, ""),
        ("labels", text, many, ""),
    )
    message("Batch", ("accounts", field.TYPE_MESSAGE, many, ".flatbench.Account"))
    message("Results", ("results", field.TYPE_MESSAGE, many, ".flatbench.Decision"))
    classes = message_factory.GetMessages([proto])
    return classes["flatbench.Batch"], classes["flatbench.Results"], classes["flatbench.Decision"]


FLAT_METHOD = "/flatbench.Flat/ClassifyBatch"


def _run_flat(port: int, ready: Any) -> None:
    batch_type, results_type, decision_type = flat_messages()

    def classify_batch(request: Any, context: Any) -> Any:
        out = []
        for a in request.accounts:
            values = {
                "followers": a.followers,
                "engagement_rate": a.engagement_rate,
                "topics": a.topics,
            }
            tier, rule, labels = _classify_by_hand(values)
            out.append(decision_type(account_id=a.id, tier=tier, rule=rule, labels=labels))
        return results_type(results=out)

    handler = grpc.method_handlers_generic_handler(
        "flatbench.Flat",
        {
            "ClassifyBatch": grpc.unary_unary_rpc_method_handler(
                classify_batch,
                request_deserializer=batch_type.FromString,
                response_serializer=results_type.SerializeToString,
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", 64 << 20)],
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


def _run_baseline(port: int, ready: Any) -> None:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", 64 << 20)],
    )
    pb_grpc.add_ClassifierServicer_to_server(_Baseline(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


class Server:
    def __init__(self, kind: str, log: Path | None = None):
        self.port = free_port()
        self.kind = kind
        self.log = log
        if kind in ("baseline", "flat"):
            context = multiprocessing.get_context("spawn")
            ready = context.Event()
            target = _run_baseline if kind == "baseline" else _run_flat
            self.process: Any = context.Process(target=target, args=(self.port, ready), daemon=True)
            self.process.start()
            ready.wait(30)
        else:
            log_flag = str(log) if log else "off"
            self.process, self.port = start_serve(
                ROOT / "rules", "--no-watch", "--decision-log", log_flag, stderr=subprocess.DEVNULL
            )

    def stop(self) -> float:
        """Stop; returns seconds until the process had exited (log flushed)."""
        started = time.perf_counter()
        if self.kind in ("baseline", "flat"):
            self.process.terminate()
            self.process.join()
        else:
            self.process.terminate()
            self.process.wait(120)
        return time.perf_counter() - started


# ---------------------------------------------------------------------- load


@dataclass
class Window:
    """What the callers finished inside the measured window, and when it ended."""

    done: float  # accounts
    seconds: float
    ended: float  # time.perf_counter() at its end
    latencies: list[float]


def run_for(
    threads: int,
    body: Callable[[Any], int],
    port: int,
    stub_of: Callable[[grpc.Channel], Any] = pb_grpc.ClassifierStub,
) -> Window:
    """`threads` callers without pause, measured over SECONDS after half a second of
    warm-up. A call across an edge of the window counts for the share of its time
    inside it: a stream of 1,000 accounts lasts a tenth of the window."""
    stop = threading.Event()
    calls: list[tuple[float, float, int]] = []  # began, finished, accounts
    lock = threading.Lock()

    def worker() -> None:
        options = [("grpc.max_receive_message_length", 64 << 20)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            stub = stub_of(channel)
            body(stub)  # warm up
            mine = []
            while not stop.is_set():
                began = time.perf_counter()
                n = body(stub)
                mine.append((began, time.perf_counter(), n))
            with lock:
                calls.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(0.5)
    started = time.perf_counter()
    time.sleep(SECONDS)
    stop.set()
    ended = time.perf_counter()
    for w in workers:
        w.join()
    done = 0.0
    latencies = []
    for began, finished, n in calls:
        inside = min(finished, ended) - max(began, started)
        if inside > 0:
            done += n * inside / max(finished - began, 1e-9)
            latencies.append(finished - began)
    return Window(done, ended - started, ended, latencies)


def _each(rates: dict[tuple[str, str], list[float]], name: str, under: str) -> str:
    """The ratio in each round: tierline over `under` (baseline), or log on over off."""
    over = "tierline" if under == "baseline" else "tierline+log"
    pairs = zip(rates[(over, name)], rates[(under, name)], strict=True)
    return ", ".join(f"{a / b:.2f}" for a, b in pairs)


def measure(
    threads: int,
    body: Callable[[Any], int],
    port: int,
    log: Path | None,
    stub_of: Callable[[grpc.Channel], Any] = pb_grpc.ClassifierStub,
) -> tuple[float, list[float]]:
    """Accounts per second, and call latencies. With a log, sustained: the window is
    stretched until the log held every decision (queued ones included)."""
    window = run_for(threads, body, port, stub_of)
    seconds = window.seconds
    if log is not None:
        seconds += max(0.0, _wait_quiet(log) - window.ended)
    return window.done / seconds, window.latencies


_counted: dict[Path, tuple[int, int]] = {}  # log -> (bytes read, lines in them)


def _lines(log: Path | None) -> int:
    """Lines in the log so far, reading only what was added since the last count."""
    if log is None or not log.exists():
        return 0
    offset, lines = _counted.get(log, (0, 0))
    with open(log, "rb") as handle:
        handle.seek(offset)
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            offset += len(chunk)
    _counted[log] = (offset, lines)
    return lines


def _wait_quiet(log: Path, quiet: float = 1.0) -> float:
    """Wait until the log has stopped growing for `quiet` seconds (the writer is idle);
    returns when it last grew, which is when it held every decision (to within 0.05 s)."""
    size, since = -1, time.perf_counter()
    while time.perf_counter() - since < quiet:
        now = log.stat().st_size if log.exists() else 0
        if now != size:
            size, since = now, time.perf_counter()
        time.sleep(0.05)
    return since


def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    sample = accounts(1000)
    messages = [account_message(a, str(i)) for i, a in enumerate(sample)]
    basic = pb.ClassifyBatchRequest(accounts=messages, view=pb.DECISION_VIEW_BASIC)
    full = pb.ClassifyBatchRequest(accounts=messages, view=pb.DECISION_VIEW_FULL)
    singles = [pb.ClassifyRequest(account=m) for m in messages]
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
            for i, a in enumerate(sample)
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

    def batch(request: pb.ClassifyBatchRequest) -> Callable[[pb_grpc.ClassifierStub], int]:
        return lambda stub: len(stub.ClassifyBatch(request, timeout=60).results)

    def stream(stub: pb_grpc.ClassifierStub) -> int:
        return sum(1 for _ in stub.ClassifyStream(iter(singles), timeout=60))

    def unary(stub: pb_grpc.ClassifierStub) -> int:
        stub.Classify(singles[7], timeout=10)
        return 1

    rates: dict[tuple[str, str], list[float]] = {}
    p99s: dict[str, list[float]] = {}
    kinds = ("flat", "baseline", "tierline", "tierline+log")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "decisions.log"
        servers = {
            "flat": Server("flat"),
            "baseline": Server("baseline"),
            "tierline": Server("tierline"),
            "tierline+log": Server("tierline", log),
        }
        try:
            for _round in range(ROUNDS):  # servers in turn, so that drifts in load hit all
                for name, body, threads in (
                    ("batch BASIC", batch(basic), 2),
                    ("batch FULL", batch(full), 2),
                    ("stream", stream, 2),
                    ("unary x8", unary, 8),
                ):
                    for kind in kinds:
                        if name == "batch FULL" and kind != "tierline":
                            continue
                        if kind == "flat" and name != "batch BASIC":
                            continue
                        logged = log if kind == "tierline+log" else None
                        port = servers[kind].port
                        if kind == "flat":
                            rate, latencies = measure(threads, flat, port, None, flat_stub)
                        else:
                            rate, latencies = measure(threads, body, port, logged)
                        rates.setdefault((kind, name), []).append(rate)
                        if name == "unary x8":
                            latencies.sort()
                            p99 = latencies[int(len(latencies) * 0.99)] * 1000
                            p99s.setdefault(kind, []).append(p99)
        finally:
            drains = {kind: server.stop() for kind, server in servers.items()}
        rows.append(
            (
                "log on: decisions logged; seconds to drain the writer at stop",
                f"{_lines(log):,}; {drains['tierline+log']:.1f} s",
            )
        )
    results = {key: statistics.median(values) for key, values in rates.items()}
    p99 = {kind: statistics.median(values) for kind, values in p99s.items()}
    for name in ("batch BASIC", "stream", "unary x8"):
        base, ours, logged = (results[(k, name)] for k in ("baseline", "tierline", "tierline+log"))
        unit = "calls/s" if name == "unary x8" else "accounts/s"
        rows.append((f"{name}: baseline {unit}", f"{base:,.0f}"))
        rows.append((f"{name}: tierline (log off) {unit}", f"{ours:,.0f}"))
        how = "sustained, until logged" if name != "unary x8" else "calls"
        rows.append((f"{name}: tierline (log on, to a file; {how}) {unit}", f"{logged:,.0f}"))
        rows.append((f"{name}: tierline / baseline (target >= 0.60)", f"{ours / base:.2f}"))
        rows.append((f"{name}: tierline / baseline, each round", _each(rates, name, "baseline")))
        if name != "unary x8":
            rows.append((f"{name}: log on / log off (target >= 0.75)", f"{logged / ours:.2f}"))
            rows.append((f"{name}: log on / log off, each round", _each(rates, name, "tierline")))
    ceiling = results[("flat", "batch BASIC")]
    ours = results[("tierline", "batch BASIC")]
    rows.append(("batch BASIC: flat-proto bare server (ceiling) accounts/s", f"{ceiling:,.0f}"))
    rows.append(
        ("batch BASIC: tierline (log off) / flat ceiling (target >= 0.3)", f"{ours / ceiling:.2f}")
    )
    rows.append(
        (
            "batch BASIC: tierline / flat ceiling, each round",
            ", ".join(
                f"{a / b:.2f}"
                for a, b in zip(
                    rates[("tierline", "batch BASIC")], rates[("flat", "batch BASIC")], strict=True
                )
            ),
        )
    )
    rows.append(
        ("batch FULL: tierline (log off) accounts/s", f"{results[('tierline', 'batch FULL')]:,.0f}")
    )
    rows.append(
        (
            "unary x8: p99 latency ms, baseline / tierline / tierline+log",
            f"{p99['baseline']:.2f} / {p99['tierline']:.2f} / {p99['tierline+log']:.2f}",
        )
    )
    rows.extend(profile(basic))
    return rows


def profile(request: pb.ClassifyBatchRequest) -> list[tuple[str, str]]:
    """Where a BASIC batch's time goes inside the server, per account, without the network."""
    from engine import load_ruleset
    from server.convert import DecisionEncoder, account_reader

    rs = load_ruleset(ROOT / "rules" / "synthesis.tiers")
    encoder = DecisionEncoder()
    wire = request.SerializeToString()
    n = len(request.accounts)

    def timed(fn: Callable[[], Any], repeat: int = 20) -> float:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
        return best / n * 1e6

    parsed = pb.ClassifyBatchRequest.FromString(wire)
    read = account_reader(rs.checked.inputs)  # as ClassifyBatch reads them
    values = [read(a) for a in parsed.accounts]
    decisions = [rs.classify(v) for v in values]
    responses = pb.ClassifyBatchResponse(
        results=[
            encoder.response(d, a.id, False)
            for a, d in zip(parsed.accounts, decisions, strict=True)
        ]
    )
    parts = [
        ("parse request", timed(lambda: pb.ClassifyBatchRequest.FromString(wire))),
        ("read accounts (the ruleset's reader)", timed(lambda: [read(a) for a in parsed.accounts])),
        ("validate + evaluate (classify)", timed(lambda: [rs.classify(v) for v in values])),
        (
            "decision id (UUIDv7)",
            timed(lambda: [d.__class__.decision_id.fget(d) for d in decisions]),
        ),  # type: ignore[attr-defined]
        (
            "build response messages",
            timed(
                lambda: [
                    encoder.response(d, a.id, False)
                    for a, d in zip(parsed.accounts, decisions, strict=True)
                ]
            ),
        ),
        ("serialise response", timed(responses.SerializeToString)),
    ]
    total = sum(t for _, t in parts)
    return [(f"profile, µs per account: {name}", f"{t:.2f} ({t / total:.0%})") for name, t in parts]


if __name__ == "__main__":
    for label, value in main():
        print(f"{label:70} {value}")
