"""ValidateRules in worker processes, bounded, stopped at the caller's deadline.

Checking a large candidate file is seconds of CPU (a 141 KB file with 1,351
tiers takes about 6 s, most of it the analysis). Done in the serving
process, a few such calls held the gRPC threads and the GIL, and health and
Classify stopped answering; their work went on after the callers had given
up. So a validation runs in one of `validate_workers` long-lived worker
processes (spawned, so nothing of gRPC is forked). At most
`max_validations` calls are admitted at once (more get RESOURCE_EXHAUSTED at
once); an admitted call waits for a free worker only until its deadline, and
a worker still busy when the caller's deadline passes, or the caller
cancels, is killed and replaced, so no work outlives its caller.

A candidate is held to what loading holds a file to: over `MAX_SOURCE_BYTES`
(16 MiB of UTF-8) it is not checked, and the answer says so (`ok=false`, the
`file-too-large` diagnostic `tierline check` gives). An answer carries at
most `MAX_DIAGNOSTICS` diagnostics and `MAX_TEXT` characters of rendered text
(`server/shown.py`), with "… and K more".
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from engine import RuleError, Ruleset
from engine.language import codes
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source
from engine.load import MAX_SOURCE_BYTES, SOLVER_MS, check_source
from server import convert, shown
from server.children import ignore_stop_signals, spawning
from server.logs import get_logger
from server.pb import pb
from server.process_name import set_process_name

log = get_logger("tierline.server")
_SPAWN = multiprocessing.get_context("spawn")
NO_DEADLINE_S = 60.0  # a call without a deadline still gets one


def too_large(text: str, file_name: str) -> pb.ValidateRulesResponse | None:
    """The answer for a candidate that loading would refuse unread, or None."""
    if len(text) <= MAX_SOURCE_BYTES // 4:  # four bytes a character at most: surely small
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_SOURCE_BYTES:
        return None
    source = Source("", file_name)
    # the diagnostic engine.load.decode gives, which loading would give
    diagnostic = codes.FILE_TOO_LARGE.at(source.span(0, 0), size=size, limit=MAX_SOURCE_BYTES)
    return _refused(source, [diagnostic])


def _refused(source: Source, diagnostics: list[Diagnostic]) -> pb.ValidateRulesResponse:
    first, _more = shown.first_diagnostics(diagnostics)
    return pb.ValidateRulesResponse(
        ok=False,
        diagnostics=[convert.diagnostic(d, source.path) for d in first],
        rendered=shown.rendered(source, diagnostics),
    )


def validation(text: str, file_name: str, solver_ms: int = SOLVER_MS) -> pb.ValidateRulesResponse:
    """Check a candidate file and run its examples, loading nothing."""
    refused = too_large(text, file_name)
    if refused is not None:
        return refused
    source = Source(text, file_name)
    try:
        ruleset = Ruleset(check_source(source, solver_ms=solver_ms))
    except RuleError as error:
        return _refused(error.source, error.diagnostics)
    examples = [
        pb.ExampleResult(
            description=r.example.description,
            line=r.example.span.line,
            passed=r.passed,
            expected=r.expected(),
            got=r.got(),
        )
        for r in ruleset.run_examples()
    ]
    warnings = list(ruleset.checked.warnings)
    first, _more = shown.first_diagnostics(warnings)
    return pb.ValidateRulesResponse(
        ok=all(e.passed for e in examples),
        diagnostics=[convert.diagnostic(d, file_name) for d in first],
        rendered=shown.rendered(source, warnings) if warnings else "",
        examples=examples,
        info=convert.ruleset_info(ruleset),
    )


def _worker_main(requests: Connection, solver_ms: int) -> None:
    ignore_stop_signals()  # the server stops its workers itself (server/children.py)
    set_process_name("tierline-check")
    while True:
        try:
            text, file_name = requests.recv()
        except (EOFError, OSError):
            return  # the server is gone
        try:
            checked = validation(text, file_name, solver_ms)
            answer: tuple[str, Any] = ("ok", checked.SerializeToString())
        except Exception as error:  # a limit (memory, recursion) or a bug: this call fails
            answer = ("error", f"{type(error).__name__}: {error}")
        try:
            requests.send(answer)
        except (OSError, ValueError):
            return  # the server is gone, or stopped waiting for this answer


class ValidationRefused(Exception):
    """Not validated: `code` is the gRPC status name for the caller."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class _Worker:
    def __init__(self, solver_ms: int) -> None:
        self.conn, theirs = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_worker_main, args=(theirs, solver_ms), name="tierline-validate", daemon=True
        )
        with spawning():  # from any thread: a signal to the group is the server's to act on
            self.process.start()
        theirs.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(2.0)
        self.conn.close()


class Validator:
    def __init__(self, workers: int, admitted: int, solver_ms: int = SOLVER_MS):
        self.admitted = admitted
        self.solver_ms = solver_ms
        self._running = 0
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._closed = False
        for _ in range(workers):
            self._add()

    def _add(self) -> None:
        worker = _Worker(self.solver_ms)
        with self._lock:
            if self._closed:
                worker.kill()
                return
            self._all.add(worker)
        self._idle.put(worker)

    def validate(
        self, text: str, file_name: str, remaining: float | None, alive: Callable[[], bool]
    ) -> pb.ValidateRulesResponse:
        """Raise ValidationRefused (RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, CANCELLED,
        INTERNAL) when it cannot answer within the call."""
        with self._lock:
            if self._running >= self.admitted:
                raise ValidationRefused(
                    "RESOURCE_EXHAUSTED",
                    f"{self._running} rule validations are running, the limit; retry later",
                )
            self._running += 1
        try:
            deadline = time.monotonic() + (NO_DEADLINE_S if remaining is None else remaining)
            return self._run(text, file_name, deadline, alive)
        finally:
            with self._lock:
                self._running -= 1

    def _run(
        self, text: str, file_name: str, deadline: float, alive: Callable[[], bool]
    ) -> pb.ValidateRulesResponse:
        worker = None
        while worker is None:
            left = deadline - time.monotonic()
            if left <= 0 or not alive():
                raise _ended(alive, "before a worker was free")
            with contextlib.suppress(queue.Empty):
                worker = self._idle.get(timeout=min(left, 0.1))
        try:
            worker.conn.send((text, file_name))
            while not worker.conn.poll(0.05):
                if time.monotonic() >= deadline or not alive():
                    self._replace(worker)
                    worker = None
                    raise _ended(alive, "and the validation was stopped")
            kind, value = worker.conn.recv()
        except (EOFError, OSError) as error:  # the worker died (memory?)
            self._replace(worker)
            worker = None
            raise ValidationRefused("INTERNAL", f"the validation failed: {error!r}") from None
        finally:
            if worker is not None:
                self._idle.put(worker)
        if kind != "ok":
            raise ValidationRefused("INTERNAL", f"the validation failed: {value}")
        return pb.ValidateRulesResponse.FromString(value)

    def _replace(self, worker: _Worker | None) -> None:
        if worker is None:
            return
        with self._lock:
            self._all.discard(worker)
        worker.kill()
        threading.Thread(target=self._add, name="tierline-validate-start", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.kill()


def _ended(alive: Callable[[], bool], when: str) -> ValidationRefused:
    if not alive():
        return ValidationRefused("CANCELLED", f"the call was cancelled {when}")
    return ValidationRefused("DEADLINE_EXCEEDED", f"the call's deadline passed {when}")
