"""The decision log's server half: every decision a caller receives reaches the log.

Classification never waits on disk: each call packs its decisions (ids,
times, the account values as received) with orjson and leaves them here
before its response is sent. A sender thread hands them, a batch at a time,
to the writer process (`server/log_writer.py`), which recomputes the reasons
with the exact ruleset version, masks what the settings say, appends the
lines, and confirms each batch once it is in the file. Decisions are
deterministic, so the writer's reasons are the ones the server had.

What is never lost: every batch is kept here until the writer confirms it. A
supervisor thread watches the writer; when it dies (kill -9, a crash) the
death is seen within `WATCH_S`, a new writer is started, every ruleset is
sent to it again, and so is every batch not yet confirmed, in order. A batch
that the dead writer had written but not yet confirmed is then written
twice: the log may hold a decision id twice (the same line), never a
decision of a caller not at all. `tierline audit` shows one.

What a line needs before it is written: its version's source in the archive
and a writer that can encode it (`server/log_versions.py`). A version is
registered here before any call can get it (`engine/registry.py` calls
`on_activate` before it publishes), and when either fails, that is the log's
failure, never the rule file's: its decisions are refused (`block`) or counted
(`drop`) until it works again.

What is bounded: at most `log_queue` x 1,000 decisions wait here, and apart
from them at most `log_queue` MiB of columnar batches (`record_columns`: one
Arrow stream per `ClassifyColumns` call, written as a segment and one record
line by the writer, `server/log_segments.py`; a batch larger than that waits
alone). When that
many wait, or when the writer says the log cannot be written (disk full,
permission), the policy decides: `block` (default) makes the call fail with
UNAVAILABLE naming the decision log (after waiting up to `log_wait_seconds`
for room when the log is merely behind), and health turns NOT_SERVING until
the log is writable again; `drop` keeps serving and counts each decision it
does not keep in `tierline_decision_log_dropped_total`, exactly: the counter
is what is missing from the log. `close()` waits a bounded time for the
writer, then says how many decisions it could not write.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import structlog

from engine import Decision, Ruleset
from server.archive import Archive, StartRefused
from server.children import spawning
from server.log_chain import KeyProblem, load_private_key
from server.log_lines import WriterConfig, packed
from server.log_versions import LogUnavailable, Versions
from server.log_writer import writer_main
from server.logs import get_logger
from server.metrics import Metrics
from server.settings import Settings

log = get_logger("tierline.decision_log")
CHUNK = 1000  # decisions per batch
COLUMN_BYTES = 1 << 20  # per `log_queue` unit: the bytes of columnar batches that may wait
GATHER_BELOW = 64  # calls with fewer decisions are gathered ...
GATHER_SECONDS = 0.02  # ... and sent at least this often
WATCH_S = 0.25  # how often the supervisor looks at the writer
RESTART_BACKOFF_S = (0.0, 0.25, 0.5, 1.0, 2.0)  # a writer that keeps dying is restarted slower
READY_WAIT_S = 10.0  # how long a reload waits for the writer to take a new version

_SPAWN = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC


@dataclass
class _Process:
    """One writer process and the two pipes to it."""

    process: Any
    inbox: Connection  # server -> writer
    acks: Connection  # writer -> server


class DecisionLog:
    """Accepts decisions from serving threads; `close()` writes them all, or says what not."""

    def __init__(self, settings: Settings, metrics: Metrics):
        self.metrics = metrics
        self.policy = settings.log_when_full
        self.capacity = settings.log_queue * CHUNK
        self.capacity_bytes = settings.log_queue * COLUMN_BYTES  # columnar batches (segments)
        self.wait_s = settings.log_wait_seconds
        self.config = WriterConfig(
            target=settings.decision_log,
            mask_fields=tuple(settings.mask_fields),
            hash_fields=tuple(settings.hash_fields),
            hash_key=settings.hash_key,
            signing_key=_signing_key(settings),
            checkpoint_s=settings.log_checkpoint_seconds,
        )
        self.on_health: Callable[[bool, str], None] = lambda ok, why: None  # health follows it
        self.versions = Versions(Archive(settings.archive_dir()), self.policy, self.wait_s)
        self.versions.on_change = self._publish_health
        self.dropped = 0  # decisions not kept (drop), or not written when the log closed
        self.writable = True
        self.reason = ""
        self._warned_at = 0.0
        self._cond = threading.Condition()
        self._small: list[Any] = []  # packed records of small calls, not yet batched
        self._outbox: deque[tuple[int, tuple[Any, ...]]] = deque()  # (decisions, payload)
        self._unconfirmed: dict[int, tuple[int, tuple[Any, ...]]] = {}  # seq -> sent, unconfirmed
        self._held = 0  # decisions in all three
        self._held_columns = 0  # of them, decisions of columnar batches ...
        self._held_bytes = 0  # ... and those batches' bytes, which bound them
        self._seq = 0
        self._closed = False
        self._finished = threading.Event()
        self._send_lock = threading.Lock()
        self._rulesets: dict[str, tuple[Any, ...]] = {}
        self._deaths: deque[float] = deque(maxlen=len(RESTART_BACKOFF_S))
        self._partial: tuple[int, int] | None = None  # a stopped writer's (seq, lines written)
        self._writer = self._start_writer()
        self._sender = threading.Thread(target=self._send_loop, name="tierline-log-send")
        self._supervisor = threading.Thread(target=self._supervise, name="tierline-log-watch")
        for thread in (self._sender, self._supervisor):
            thread.daemon = True
            thread.start()
        # An exit that never called close() (an exception on the way out) must not wait on a
        # writer that ignores SIGTERM: atexit runs this before multiprocessing joins it.
        atexit.register(self.close, 2.0)

    # ------------------------------------------------------------ serving side

    def register(self, ruleset: Ruleset, wait_s: float = 0.0) -> None:
        """Before any call can get this version: keep its source in the archive, and send
        it to the writer (which needs it before its decisions); then wait up to `wait_s`
        for the writer to say it can encode them. Never raises for the archive: a source
        that cannot be kept is this log's failure (see the module's doc)."""
        digest = ruleset.digest
        message = ("ruleset", digest, ruleset.source, ruleset.path, ruleset.name)
        with self._send_lock:
            new = digest not in self._rulesets
            if new:
                self._rulesets[digest] = message
                self._to_writer(message)
        if new:  # outside the lock: a slow archive must not hold up the sender
            self.versions.add(digest, ruleset.name, ruleset.source)
        if wait_s:
            self.wait_ready([digest], wait_s)

    def wait_ready(self, digests: list[str] | None = None, timeout: float = READY_WAIT_S) -> bool:
        """Wait until the writer has judged every digest (all registered ones when None);
        False if it has not within `timeout`."""
        return self.versions.wait_judged(digests, timeout)

    def served(self, digests: frozenset[str]) -> None:
        """The versions the registry serves now: health asks only about them."""
        self.versions.served(digests)

    def _publish_health(self) -> None:
        if not self.writable:
            self.on_health(False, f"the decision log cannot be written: {self.reason}")
            return
        failing = self.versions.failing_served()
        self.on_health(not failing, "; ".join(failing))

    def record(
        self, rpc: str, request_id: str, latency_us: int, decisions: list[tuple[Decision, str]]
    ) -> None:
        """Keep the decisions until the log has them; raise LogUnavailable (`block`) or
        count them as dropped (`drop`) when it cannot take them."""
        count = len(decisions)
        if not count:
            return
        digest = decisions[0][0].ruleset.digest
        if digest not in self.versions.ready and not self.versions.admit(digest, self.policy):
            with self._cond:
                self._drop(count)  # `drop`, and this version cannot be logged
            return
        bound = structlog.contextvars.get_contextvars()  # the call's (server/observe.py)
        peer = bound.get("peer", "")
        caller = bound.get("caller", "")  # its authenticated caller (server/security/guard.py)
        small = count < GATHER_BELOW
        if small:
            context = (digest, rpc, request_id, peer, latency_us, caller)
            records = [
                packed((*context, d.decision_id, d.time_ns, aid, d.account)) for d, aid in decisions
            ]
        else:
            chunks = []
            for start in range(0, count, CHUNK):
                part = decisions[start : start + CHUNK]
                items = packed([(d.decision_id, d.time_ns, aid, d.account) for d, aid in part])
                payload = ("decisions", digest, rpc, request_id, peer, latency_us, caller, items)
                chunks.append((len(part), payload))
        with self._cond:
            if not self._admit(count):
                return
            self._held += count
            if small:
                self._small.extend(records)
                if len(self._small) >= CHUNK:
                    self._cond.notify_all()
            else:
                self._outbox.extend(chunks)
                self._cond.notify_all()

    def record_columns(
        self,
        rpc: str,
        request_id: str,
        latency_us: int,
        digest: str,
        batch_id: str,
        time_ns: int,
        segment: bytes,
        count: int,
    ) -> None:
        """A columnar batch (`server/columns.py`): its rows as an Arrow IPC stream, kept
        until the writer has its segment and record line (`server/log_segments.py`); the
        same guarantees and policy as `record`, counted by its `count` decisions."""
        if not count:
            return
        if digest not in self.versions.ready and not self.versions.admit(digest, self.policy):
            with self._cond:
                self._drop(count)
            return
        bound = structlog.contextvars.get_contextvars()
        peer, caller = bound.get("peer", ""), bound.get("caller", "")
        payload = (
            "columns",
            digest,
            rpc,
            request_id,
            peer,
            latency_us,
            caller,
            batch_id,
            time_ns,
            segment,
        )
        with self._cond:
            if not self._admit(count, len(segment)):
                return
            self._held += count
            self._held_columns += count
            self._held_bytes += len(segment)
            self._outbox.append((count, payload))
            self._cond.notify_all()

    def _room(self, count: int, size: int) -> bool:
        """Room for `count` more decisions of calls (`size` 0), or for a columnar batch of
        `size` bytes? Each kind is bounded by what it holds: decisions of calls by their
        number (`log_queue` x 1,000), columnar batches by their bytes (`log_queue` MiB),
        so that a batch of 100,000 rows neither waits for the one before it to be
        written nor makes a Classify call wait for it."""
        if size:
            held = self._held_bytes
            return not held or held + size <= self.capacity_bytes
        held = self._held - self._held_columns
        return not held or held + count <= self.capacity

    def _admit(self, count: int, size: int = 0) -> bool:
        """Room for `count` more decisions (a columnar batch: of `size` bytes)? (Called
        holding the condition.)"""
        if self._closed:
            self._drop(count, "decision_log_closed")
            return False
        if self.policy == "drop":
            if not self._room(count, size):
                self._drop(count)
                return False
            return True
        deadline = time.monotonic() + self.wait_s
        while True:
            if not self.writable:
                raise LogUnavailable(f"the decision log cannot be written: {self.reason}")
            if self._room(count, size):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                raise LogUnavailable(
                    f"the decision log is behind: {self._held:,} decisions wait to be written"
                )
            self._cond.wait(min(left, 0.1))

    def _drop(self, count: int, event: str = "decision_log_dropped") -> None:
        self.dropped += count
        self.metrics.log_dropped.inc(count)
        now = time.monotonic()
        if now - self._warned_at > 5:
            self._warned_at = now
            log.warning(event, dropped=count, dropped_total=self.dropped)

    def reopen(self) -> None:
        """Open the log's path again (after a rotation; SIGUSR1)."""
        with self._send_lock:
            self._to_writer(("reopen",))

    # --------------------------------------------------------------- to writer

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                if not self._outbox and not self._closed:
                    self._cond.wait(GATHER_SECONDS)
                while self._small:
                    records, self._small = self._small[:CHUNK], self._small[CHUNK:]
                    self._outbox.append((len(records), ("records", records)))
                batches = list(self._outbox)
                self._outbox.clear()
                closing = self._closed
            for count, payload in batches:
                with self._send_lock:
                    with self._cond:
                        self._seq += 1
                        seq = self._seq
                        self._unconfirmed[seq] = (count, payload)
                    self._to_writer(("batch", seq, count, payload))
            if closing and not batches:
                return

    def _to_writer(self, message: tuple[Any, ...] | None) -> None:
        """Send, holding `_send_lock`. A dead writer fails the send: the supervisor
        restarts it and sends every unconfirmed batch again."""
        with contextlib.suppress(OSError, ValueError):
            self._writer.inbox.send(message)

    # -------------------------------------------------------------- supervisor

    def _start_writer(self) -> _Process:
        inbox_reader, inbox = _SPAWN.Pipe(duplex=False)
        acks, acks_writer = _SPAWN.Pipe(duplex=False)
        process = _SPAWN.Process(
            target=writer_main,
            args=(inbox_reader, acks_writer, self.config),
            name="tierline-decision-log",
            daemon=True,
        )
        with spawning():  # from any thread: a group's Ctrl-C cannot kill it mid-start
            process.start()
        inbox_reader.close()  # only the writer reads: its death makes our sends fail
        acks_writer.close()  # only the writer writes: its death ends our reads
        return _Process(process, inbox, acks)

    def _supervise(self) -> None:
        while not self._finished.is_set():
            current = self._writer
            try:
                ready = wait([current.acks, current.process.sentinel], timeout=WATCH_S)
                self._read_acks(current)
                if self.versions.unarchived:
                    self.versions.retry_archive()
                if current.process.sentinel in ready and not self._finished.is_set():
                    self._restart(current)
            except Exception as error:  # the watch must outlive anything: it is the guarantee
                log.error("decision_log_supervisor_failed", error=repr(error), exc_info=error)
                self._finished.wait(WATCH_S)

    def _read_acks(self, current: _Process) -> bool:
        """Take the writer's messages; False once its pipe has ended (it is gone)."""
        try:
            while current.acks.poll():
                message = current.acks.recv()
                if message[0] == "written":
                    self._confirmed(message[1], message[2])
                elif message[0] == "state":
                    self._set_writable(message[1], message[2])
                elif message[0] == "ruleset":
                    self.versions.verdict(message[1], message[2])
                elif message[0] == "partial":
                    self._partial = (message[1], message[2])
        except (EOFError, OSError, pickle.UnpicklingError):
            return False  # the writer is gone (perhaps mid-message); its sentinel says so
        return True

    def _confirmed(self, seq: int, failed: int) -> None:
        with self._cond:
            while self._unconfirmed:
                first = next(iter(self._unconfirmed))
                if first > seq:
                    break
                count, payload = self._unconfirmed.pop(first)
                self._held -= count
                if payload[0] == "columns":
                    self._held_columns -= count
                    self._held_bytes -= len(payload[-1])
            if failed:
                self._drop(failed, "decision_log_lines_failed")
            self._cond.notify_all()

    def _set_writable(self, ok: bool, reason: str) -> None:
        with self._cond:
            self.writable, self.reason = ok, reason
            self._cond.notify_all()
        if ok:
            log.info("decision_log_writable", path=self.config.target)
        else:
            log.error("decision_log_unwritable", reason=reason, policy=self.policy)
        self.metrics.log_writable.set(1 if ok else 0)
        self._publish_health()

    def _restart(self, dead: _Process) -> None:
        dead.process.join(1.0)  # reap it: its sentinel can fire before it is a waitable zombie
        now = time.monotonic()
        self._deaths.append(now)
        recent = sum(1 for t in self._deaths if now - t < 10)
        with self._cond:
            waiting = self._held
        log.error(
            "decision_log_writer_died",
            exitcode=dead.process.exitcode,
            decisions_unconfirmed=waiting,
            restarting_in_s=RESTART_BACKOFF_S[recent - 1],
        )
        if self._finished.wait(RESTART_BACKOFF_S[recent - 1]):
            return
        with self._send_lock:
            for conn in (dead.inbox, dead.acks):
                conn.close()
            self._writer = self._start_writer()
            self.metrics.log_restarts.inc()
            for message in self._rulesets.values():
                self._to_writer(message)
            with self._cond:
                again = list(self._unconfirmed.items())
            for seq, (count, payload) in again:
                self._to_writer(("batch", seq, count, payload))
        log.info("decision_log_writer_restarted", batches_sent_again=len(again))

    # ------------------------------------------------------------------- close

    def close(self, timeout: float = 120.0) -> None:
        """Write everything held, within `timeout`; then stop the writer, whatever its state."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._sender.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            while self._held and time.monotonic() < deadline:
                self._cond.wait(0.05)
        self._finished.set()
        self._supervisor.join(1.0)
        writer = self._writer
        # the writer's own time to write what it holds ends before the wait for it: then
        # it exits by itself, saying what it could not write (`partial`), not killed
        given = max(0.25, min(2.5, deadline - time.monotonic()))
        if self._send_lock.acquire(timeout=max(0.1, deadline - time.monotonic())):
            try:
                self._to_writer(("stop", given))
            finally:
                self._send_lock.release()
        self._await_exit(writer, given + 1.0)
        if writer.process.is_alive():
            log.error("decision_log_writer_stuck", pid=writer.process.pid)
            writer.process.kill()
            writer.process.join(1.0)
        self._read_acks(writer)  # what it confirmed before it stopped
        unwritten = self._unwritten()
        if unwritten:
            self.dropped += unwritten
            self.metrics.log_dropped.inc(unwritten)
            log.error("decision_log_unwritten", decisions=unwritten, reason=self.reason or None)

    def _await_exit(self, writer: _Process, timeout: float) -> None:
        """Wait up to `timeout` for the writer to exit, taking its confirmations as they
        come: it goes on writing after it is told to stop (what it holds, its closing
        checkpoint), and a count taken before it ended said missing what it then wrote."""
        end = time.monotonic() + timeout
        watched: list[Any] = [writer.acks, writer.process.sentinel]
        while (left := end - time.monotonic()) > 0:
            ready = wait(watched, timeout=left)
            if writer.acks in ready and not self._read_acks(writer):
                watched = [writer.process.sentinel]  # its pipe ended: only its exit is left
            if writer.process.sentinel in ready:
                writer.process.join(max(0.0, end - time.monotonic()))
                return

    def _unwritten(self) -> int:
        """Decisions held and not confirmed once the writer has stopped: exactly the ones
        the log lacks, but for the lines of a batch the writer was in the middle of, which
        it says in its last message (`partial`; none when it was killed)."""
        with self._cond:
            unwritten = self._held
            if self._partial is not None and self._partial[0] in self._unconfirmed:
                unwritten -= self._partial[1]
        return unwritten


class NoDecisionLog:
    """`--decision-log off`: nothing is recorded (benchmarks, tests)."""

    dropped = 0
    writable = True

    def __init__(self) -> None:
        self.on_health: Callable[[bool, str], None] = lambda ok, why: None

    def register(self, ruleset: Ruleset, wait_s: float = 0.0) -> None:
        pass

    def wait_ready(self, digests: list[str] | None = None, timeout: float = 0.0) -> bool:
        return True

    def served(self, digests: frozenset[str]) -> None:
        pass

    def record(self, rpc: str, request_id: str, latency_us: int, decisions: list[Any]) -> None:
        pass

    def record_columns(self, *args: Any) -> None:
        pass

    def reopen(self) -> None:
        pass

    def close(self, timeout: float = 0.0) -> None:
        pass


def _signing_key(settings: Settings) -> bytes:
    """The PEM of `--log-signing-key`, checked before the writer starts: a key that cannot
    sign stops the start with the reason, instead of a writer that dies on every start."""
    path = settings.log_signing_key
    if path is None:
        return b""
    try:
        data = path.read_bytes()
        load_private_key(data, str(path))
    except OSError as error:
        raise StartRefused(f"cannot read the log signing key {path}: {error.strerror}") from None
    except KeyProblem as error:
        raise StartRefused(f"--log-signing-key: {error}") from None
    return data


def open_decision_log(settings: Settings, metrics: Metrics) -> DecisionLog | NoDecisionLog:
    if settings.decision_log == "off":
        return NoDecisionLog()
    return DecisionLog(settings, metrics)
