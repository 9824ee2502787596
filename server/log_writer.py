"""The decision log's writer process: lines out, confirmations back.

The server (`server/decision_log.py`) sends messages over a pipe, in order:
`("ruleset", digest, source, path, name)` before any decision of that
version, `("batch", seq, count, payload)` for decisions, `("reopen",)` on
SIGUSR1, and `("stop", seconds)` (or `None`: `STOP_WRITE_S`) to write what it
has for at most that long, then exit. The writer turns each batch into lines
(`server/log_lines.py`), appends them to the log, and answers on a second
pipe: `("written", seq, failed)` once every batch up to `seq` is in the file
(handed to the kernel: a crash of either process cannot lose it; a machine
crash can lose up to `FSYNC_EVERY_S`, the interval of fsync), `("state",
ok, reason)` when the log stops or starts being writable, and `("ruleset",
digest, error)` once it has built the lines of a version ("" when it can encode
its decisions; the server refuses or counts them otherwise). The server keeps
each batch until it is confirmed and sends it again to a restarted writer. A
writer that exits with lines unwritten says last `("partial", seq, lines)`: how
many decision lines of the first unconfirmed batch are wholly in the file.

Writing never gives up: a write that fails (disk full, permission, the
folder gone) keeps its bytes, from the first byte not written, and is tried
again every `RETRY_S`; a line is therefore never cut by a full disk. The file
is opened with O_APPEND; a file that does not end in a newline (a writer
killed mid-line) gets one before anything is appended. Every second the
writer checks whether its path still names the file it has open: after a
rotation (`mv decisions.log decisions.log.1`) or a removal it opens the path
anew. SIGHUP and SIGUSR1 reopen too; SIGINT and SIGTERM are ignored, so that
the writer outlives the server's graceful stop and writes what is queued.
When the server's end of the pipe closes (the server died), the writer
writes what it has and exits.

With a signing key (`--log-signing-key`) every line is chained and sealed as it
joins the backlog, so whatever delays the write (a full disk, a rotation) cannot
reorder the chain; checkpoints join the backlog the same way (every 10 s with
lines, every 100,000 lines, at close). A rotation is followed only once the old
file's rotation checkpoint is written to it: `switch_at` holds the backlog's
position of that end, and the new file's first line (`chain_start`) is already
sealed behind it. A writer started on a file that holds a chain continues it
(`chain_resumed`, `server/log_chain.py`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections import deque
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from engine import Ruleset
from engine.language.source import Source
from engine.load import check_source
from server.children import ignore_stop_signals
from server.log_chain import Chain, load_private_key
from server.log_lines import DecisionLines, Masker, WriterConfig, call_context, unpacked
from server.log_segments import Segment, Segments
from server.logs import configure_logging, get_logger
from server.process_name import set_process_name

log = get_logger("tierline.decision_log")

WRITER_NAME = "tierline-log"  # as ps shows it
RETRY_S = 0.25  # how often a failed write is tried again
CHECK_PATH_S = 1.0  # how often the path is compared with the open file (rotation)
FSYNC_EVERY_S = 1.0  # how much a machine crash can cost (a process crash costs nothing)
EXIT_WRITE_S = 10.0  # when the server is gone, how long to keep trying to write
STOP_WRITE_S = 2.0  # told to stop (`None`), how long to keep trying to write


class LogFile:
    """The log's file descriptor: opened with O_APPEND, reopened when its path moves."""

    def __init__(self, target: str):
        self.target = target
        self.fd: int | None = None
        self.error = ""  # why the last write failed, "" when it did not
        self._checked = 0.0
        self._synced = 0.0
        self._dirty = False

    def write(self, data: memoryview) -> int:
        """As many bytes as the file takes now; on a failure `error` says why."""
        done = 0
        try:
            if self.fd is None:
                self._open()
            assert self.fd is not None
            while done < len(data):
                done += os.write(self.fd, data[done:])
        except OSError as failure:
            self.error = f"cannot write {self.target}: {failure.strerror or failure}"
            if self.fd is not None and failure.errno not in (28, 122):  # not ENOSPC, EDQUOT
                self._close()  # permission, a stale handle: open the path again next time
            return done
        self.error = ""
        self._dirty = self._dirty or done > 0
        return done

    def _open(self) -> None:
        if self.target == "-":
            self.fd = sys.stdout.fileno()
            return
        folder = os.path.dirname(os.path.abspath(self.target))
        os.makedirs(folder, exist_ok=True)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC  # read: the last byte
        fd = os.open(self.target, flags, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")  # the line a killed writer cut stays a line of its own
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        self._checked = time.monotonic()

    def _close(self) -> None:
        if self.fd is not None and self.target != "-":
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = None

    def reopen(self) -> None:
        self._close()

    def moved(self) -> bool:
        """Does the path no longer name the open file (renamed or removed)?"""
        if self.fd is None or self.target == "-":
            return False
        try:
            named = os.stat(self.target)
            opened = os.fstat(self.fd)
        except OSError:
            return True  # removed: a new file at the path
        return (named.st_dev, named.st_ino) != (opened.st_dev, opened.st_ino)

    def tend(self, now: float) -> bool:
        """Fsync what was written in the last interval; True when the path moved (a
        rotation), which the caller follows: at once, or after sealing the old file."""
        if self.fd is None or self.target == "-":
            return False
        if now - self._checked >= CHECK_PATH_S:
            self._checked = now
            if self.moved():
                log.info("decision_log_reopened", path=self.target)
                return True
        if self._dirty and now - self._synced >= FSYNC_EVERY_S:
            self.sync()
            self._synced = now
        return False

    def sync(self) -> None:
        if self.fd is not None and self.target != "-":
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
        self._dirty = False

    def close(self) -> None:
        self._close()


class Writer:
    """The writer's state: lines not yet written, and which batches they end."""

    def __init__(self, acks: Connection, config: WriterConfig):
        self.acks = acks
        self.file = LogFile(config.target)
        masker = Masker(config)
        self.lines = DecisionLines(masker)
        self.segments = Segments(config.target, masker)
        self.pending: deque[Segment] = deque()  # segments to write before their record lines
        self.backlog = bytearray()
        self.queued = 0  # bytes ever queued
        self.written = 0  # bytes ever written
        # each batch not yet confirmed: (queued at its end, seq, failed, queued where its
        # decision lines begin, its decision lines): what `unfinished` needs at exit
        self.ends: deque[tuple[int, int, int, int, int]] = deque()
        self.said_unwritable = False
        self.chain: Chain | None = None  # with a signing key (server/log_chain.py)
        self.switch_at: int | None = None  # rotation: reopen once this many bytes are written
        if config.signing_key:
            key = load_private_key(config.signing_key, "the signing key")
            self.chain = Chain(key, config.target, config.checkpoint_s)
            self._queue(self.chain.open_on(config.target))

    def _queue(self, data: bytes) -> None:
        self.backlog += data
        self.queued += len(data)

    def rotate(self) -> None:
        """The path moved: without a chain, open it anew at once; with one, seal the old
        file with a checkpoint first, and start the new one with the chain's next line."""
        if self.chain is None:
            self.file.reopen()
            return
        if self.switch_at is not None:
            return  # already switching
        self._queue(self.chain.checkpoint("rotation"))
        self.switch_at = self.queued
        self._queue(self.chain.start("rotated"))

    def reopen(self) -> None:
        """SIGHUP, SIGUSR1: open the path again (a rotation, when it moved)."""
        if self.chain is not None and self.file.moved():
            self.rotate()
        elif self.chain is None or self.switch_at is None:
            self.file.reopen()

    def tick(self, now: float) -> None:
        """A checkpoint when one is due (every 10 s with lines, every 100,000 lines)."""
        if self.chain is not None:
            due = self.chain.due(now)
            if due:
                self._queue(self.chain.checkpoint(due))

    def closing(self) -> None:
        """The last line of a closing writer: a checkpoint over everything it wrote."""
        if self.chain is not None:
            self._queue(self.chain.checkpoint("close"))

    def take(self, message: Any) -> None:
        if message[0] == "ruleset":
            _kind, digest, source, path, name = message
            try:  # no analysis: the server did it; lines need only the checked rules
                checked = check_source(Source(source, path), name=name, analyse=False)
                self.lines.add(Ruleset(checked))
            except Exception as error:  # the server ran it: not expected, but never fatal
                log.error("decision_log_ruleset_failed", digest=digest, error=repr(error))
                self._say(("ruleset", digest, f"{type(error).__name__}: {error}"))
            else:
                self._say(("ruleset", digest, ""))
            return
        if message[0] == "reopen":
            self.reopen()
            return
        _kind, seq, count, payload = message
        if payload[0] == "columns":
            self._columns(seq, count, payload)
            return
        before = self.lines.failed
        try:
            data = _encode(self.lines, payload)
        except Exception as error:
            log.error("decision_log_lines_failed", decisions=count, error=repr(error))
            data, failed = b"", count
        else:
            failed = self.lines.failed - before
        begin = self.queued
        if self.chain is not None:  # sealed straight into the backlog: one copy a line
            before_bytes = len(self.backlog)
            self.chain.seal_into(self.backlog, data)
            self.queued += len(self.backlog) - before_bytes
        else:
            self._queue(data)
        self.ends.append((self.queued, seq, failed, begin, count - failed))
        if self.chain is not None and self.chain.due(time.monotonic()) == "lines":
            self._queue(self.chain.checkpoint("lines"))

    def _columns(self, seq: int, count: int, payload: tuple[Any, ...]) -> None:
        """A columnar batch: its segment, then one record line that commits to it
        (`server/log_segments.py`); the segment is written before the line's bytes."""
        _kind, digest, rpc, request_id, peer, latency_us, caller, batch_id, time_ns, data = payload
        ruleset = self.lines.ruleset(digest)
        context: dict[str, Any] = {
            "latency_us": latency_us,
            "rpc": rpc,
            "request_id": request_id or None,
            "peer": peer or None,
        }
        if caller:
            context["caller"] = caller
        try:
            if ruleset is None:
                raise LookupError(f"no ruleset with digest {digest} was given to the writer")
            segment, line = self.segments.build(
                ruleset, batch_id, time_ns, data, context, self.queued
            )
        except Exception as error:
            log.error("decision_log_segment_failed", decisions=count, error=repr(error))
            self.ends.append((self.queued, seq, count, self.queued, 0))
            return
        self.pending.append(segment)
        begin = self.queued
        if self.chain is not None:
            before_bytes = len(self.backlog)
            self.chain.seal_into(self.backlog, line)
            self.queued += len(self.backlog) - before_bytes
        else:
            self._queue(line)
        self.ends.append((self.queued, seq, 0, begin, 0))  # one line, all its decisions or none
        if self.chain is not None and self.chain.due(time.monotonic()) == "lines":
            self._queue(self.chain.checkpoint("lines"))

    def flush(self) -> None:
        """Write what the file takes, each segment before its record line; confirm the
        batches now wholly written."""
        while self.backlog or self.pending:
            if self.pending and self.pending[0].at <= self.written:
                if not self.segments.write(self.pending[0]):
                    self.file.error = self.segments.error  # said as the log's state
                    break
                self.pending.popleft()
                continue
            size = len(self.backlog)
            if self.switch_at is not None:
                size = min(size, self.switch_at - self.written)
            if self.pending:
                size = min(size, self.pending[0].at - self.written)
            view = memoryview(self.backlog)
            done = self.file.write(view[:size])
            view.release()
            del self.backlog[:done]
            self.written += done
            if done < size:
                break  # the file takes no more now (its error says why)
            if self.switch_at is not None and self.written >= self.switch_at:
                self.switch_at = None  # the old file is sealed: on to the new one
                self.file.reopen()
            elif not self.pending or self.pending[0].at > self.written:
                break
        confirmed, failed = None, 0
        while self.ends and self.ends[0][0] <= self.written:
            _end, confirmed, lost, _begin, _lines = self.ends.popleft()
            failed += lost
        if confirmed is not None:
            self._say(("written", confirmed, failed))
        if self.file.error and not self.said_unwritable:
            self.said_unwritable = True  # the server logs it, with its policy
            self._say(("state", False, self.file.error))
        elif not self.file.error and self.said_unwritable and not self.backlog:
            self.said_unwritable = False
            self._say(("state", True, ""))

    def unfinished(self) -> None:
        """At exit with lines unwritten: say how many decision lines of the first batch
        not confirmed are wholly in the file (`("partial", seq, lines)`), so that the
        server counts as unwritten exactly the decisions the log lacks; a line cut short
        (a full disk took part of it) is not in the log. Later batches have none there."""
        if not self.ends:
            return
        end, seq, _failed, begin, lines = self.ends[0]
        if not lines or self.written <= begin:
            return
        left = self.backlog[max(0, begin - self.written) : end - self.written].count(b"\n")
        self._say(("partial", seq, max(0, lines - left)))

    def _say(self, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError):  # the server is gone: nobody to tell
            self.acks.send(message)


def writer_main(inbox: Connection, acks: Connection, config: WriterConfig) -> None:
    ignore_stop_signals()  # the server stops it, once it has written (server/children.py)
    set_process_name(WRITER_NAME)
    configure_logging()
    writer = Writer(acks, config)
    reopen: list[int] = []

    def on_reopen(signum: int, _frame: FrameType | None) -> None:
        reopen.append(signum)

    signal.signal(signal.SIGHUP, on_reopen)
    signal.signal(signal.SIGUSR1, on_reopen)
    ending_at: float | None = None  # set once the server said stop, or went away
    closed = False  # the closing checkpoint is queued
    while True:
        wait = RETRY_S if writer.backlog else 0.2
        try:
            if ending_at is None and inbox.poll(wait):
                started = time.monotonic()
                while inbox.poll(0) and time.monotonic() - started < 0.1:
                    message = inbox.recv()
                    if message is None or message[0] == "stop":
                        given = STOP_WRITE_S if message is None else message[1]
                        ending_at = time.monotonic() + given
                        break
                    writer.take(message)
            elif ending_at is not None:
                time.sleep(RETRY_S)
        except (EOFError, OSError):  # the server died: write what came, then go
            ending_at = time.monotonic() + EXIT_WRITE_S
        if reopen:
            reopen.clear()
            writer.reopen()
        now = time.monotonic()
        writer.tick(now)
        if ending_at is not None and not closed:
            closed = True
            writer.closing()
        writer.flush()
        if writer.file.tend(time.monotonic()):
            writer.rotate()
        if ending_at is not None and (not writer.backlog or time.monotonic() > ending_at):
            break
    writer.file.sync()
    writer.file.close()
    if writer.backlog:
        writer.unfinished()
        log.error("decision_log_unwritten_at_exit", bytes=len(writer.backlog))


def _encode(lines: DecisionLines, payload: tuple[Any, ...]) -> bytes:
    if payload[0] == "records":  # gathered small calls, each with its own context
        return b"".join(
            lines.encode(digest, [item], call_context(rpc, request_id, peer, latency, caller))
            for digest, rpc, request_id, peer, latency, caller, *item in map(unpacked, payload[1])
        )
    _kind, digest, rpc, request_id, peer, latency_us, caller, items = payload
    context = call_context(rpc, request_id, peer, latency_us, caller)
    return lines.encode(digest, unpacked(items), context)
