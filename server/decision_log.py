"""The decision log's server half: hand every decision to a writer process.

Classification never waits on disk: each call packs its decisions (ids,
times, the account values as received) with orjson and hands them to a
bounded multiprocessing queue; a separate process (`server/log_writer.py`)
recomputes the reasons with the exact ruleset version, masks what the
settings say, and writes one JSON line per decision. Decisions are
deterministic, so the writer's reasons are the ones the server had.
When the queue is full the policy is `block` (default: lose nothing) or
`drop` (count it in `tierline_decision_log_dropped_total` and warn).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import structlog

from engine import Decision, Ruleset
from server.log_writer import WriterConfig, packed, writer_main
from server.logs import get_logger
from server.metrics import Metrics
from server.settings import Settings

log = get_logger("tierline.decision_log")
CLOSE_TIMEOUT = 120.0
CHUNK = 1000  # decisions per queue message
GATHER_BELOW = 64  # calls with fewer decisions are gathered ...
GATHER_SECONDS = 0.02  # ... and sent at least this often


class DecisionLog:
    """Accepts decisions from serving threads; `close()` flushes everything."""

    def __init__(self, settings: Settings, metrics: Metrics):
        self.metrics = metrics
        self.policy = settings.log_when_full
        self.dropped = 0
        self._warned_at = 0.0
        self._lock = threading.Lock()
        self._registered: set[str] = set()
        context = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC
        self._queue: Any = context.Queue(maxsize=settings.log_queue)
        config = WriterConfig(
            target=settings.decision_log,
            mask_fields=tuple(settings.mask_fields),
            hash_fields=tuple(settings.hash_fields),
            hash_key=settings.hash_key,
        )
        self._process = context.Process(
            target=writer_main,
            args=(self._queue, config),
            name="tierline-decision-log",
            daemon=True,
        )
        with _signals_ignored():  # inherited through exec: Ctrl-C cannot kill the writer mid-start
            self._process.start()
        self._closed = False
        self._checked_at = time.monotonic()
        # Small calls (unary, stream messages) are gathered and sent together: one queue
        # message per call would wake the queue's feeder thread thousands of times a second.
        self._pending: list[Any] = []  # packed records
        self._pending_cap = CHUNK * 4
        self._wake = threading.Condition()
        self._flusher = threading.Thread(
            target=self._flush_loop, name="tierline-log-flush", daemon=True
        )
        self._flusher.start()

    def register(self, ruleset: Ruleset) -> None:
        """The writer needs each ruleset version's source before its decisions."""
        with self._lock:
            if ruleset.digest in self._registered:
                return
            self._registered.add(ruleset.digest)
        self._queue.put(("ruleset", ruleset.digest, ruleset.source, ruleset.path, ruleset.name))

    def record(
        self, rpc: str, request_id: str, latency_us: int, decisions: list[tuple[Decision, str]]
    ) -> None:
        if not decisions or self._closed:
            return
        if time.monotonic() - self._checked_at > 1.0:
            self._checked_at = time.monotonic()
            if not self._process.is_alive():
                self._drop(len(decisions), "decision_log_writer_died")
                return
        peer = structlog.contextvars.get_contextvars().get("peer", "")
        digest = decisions[0][0].ruleset.digest
        if len(decisions) < GATHER_BELOW:
            context = (digest, rpc, request_id, peer, latency_us)
            self._gather(
                [
                    packed((*context, d.decision_id, d.time_ns, aid, d.account))
                    for d, aid in decisions
                ]
            )
            return
        for start in range(0, len(decisions), CHUNK):  # the queue holds at most log_queue x CHUNK
            part = decisions[start : start + CHUNK]
            chunk = packed([(d.decision_id, d.time_ns, aid, d.account) for d, aid in part])
            self._send(("decisions", digest, rpc, request_id, peer, latency_us, chunk), len(part))

    def _send(self, message: tuple[Any, ...], decisions: int) -> None:
        """Onto the queue: wait for room (`block`), or count the decisions as dropped."""
        if self.policy == "block":
            self._queue.put(message)
            return
        try:
            self._queue.put(message, block=False)
        except queue.Full:
            self._drop(decisions)

    def _gather(self, records: list[Any]) -> None:
        with self._wake:
            while len(self._pending) >= self._pending_cap:
                if self.policy == "drop":
                    break
                self._wake.wait(0.1)
            else:
                self._pending.extend(records)
                if len(self._pending) >= CHUNK:
                    self._wake.notify_all()
                return
        self._drop(len(records))

    def _flush_loop(self) -> None:
        while True:
            with self._wake:
                if not self._pending and not self._closed:
                    self._wake.wait(GATHER_SECONDS)
                batch, self._pending = self._pending, []
                self._wake.notify_all()  # room again for blocked callers
                closing = self._closed
            for start in range(0, len(batch), CHUNK):
                records = batch[start : start + CHUNK]
                self._send(("records", records), len(records))
            if closing:
                return

    def _drop(self, count: int, event: str = "decision_log_dropped") -> None:
        with self._lock:
            self.dropped += count
        self.metrics.log_dropped.inc(count)
        now = time.monotonic()
        if now - self._warned_at > 5:
            self._warned_at = now
            log.warning(event, dropped=count, dropped_total=self.dropped)

    def close(self) -> None:
        """Flush every queued decision to disk and stop the writer."""
        if self._closed:
            return
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._flusher.join()  # sends what was gathered
        if not self._process.is_alive():
            log.error("decision_log_writer_died", exitcode=self._process.exitcode)
            self._queue.cancel_join_thread()  # nobody reads the pipe: do not wait on it
            return
        self._queue.put(None)
        self._queue.close()
        self._queue.join_thread()
        self._process.join(CLOSE_TIMEOUT)
        if self._process.is_alive():
            log.error("decision_log_writer_stuck", timeout_s=CLOSE_TIMEOUT)
            self._process.terminate()


class NoDecisionLog:
    """`--decision-log off`: nothing is recorded (benchmarks, tests)."""

    dropped = 0

    def register(self, ruleset: Ruleset) -> None:
        pass

    def record(self, rpc: str, request_id: str, latency_us: int, decisions: list[Any]) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while a child starts (only the main thread can do this)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def open_decision_log(settings: Settings, metrics: Metrics) -> DecisionLog | NoDecisionLog:
    if settings.decision_log == "off":
        return NoDecisionLog()
    return DecisionLog(settings, metrics)
