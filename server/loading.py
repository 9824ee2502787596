"""Rule files into the registry, and what is said about each load.

At start-up, on SIGHUP and on every change the watcher sees, a file is read,
handed to the registry (which only activates it if it checks and passes its
examples), and the outcome is logged (`ruleset_loaded`, `ruleset_rejected`)
and counted. Keeping every activated source in the archive by digest, for `tierline
audit`, is the decision log's part (`server/decision_log.py`): its failure is the log's,
not the file's.

Files are read through `server/rulefiles.py` (never a FIFO or device, never
past the size limit, never outside the folder), and a refused file is not
read again until it changes. What is logged about a load is bounded
(`server/shown.py`): one file with thousands of findings makes one event
line of at most a few KiB, not megabytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from engine.language.diagnostics import RuleError
from engine.registry import LoadResult, Registry
from server.logs import get_logger
from server.metrics import Metrics
from server.rulefiles import Refused, RuleFiles, stat_key
from server.shown import failure_message

log = get_logger("tierline.server")

# One check at a time in this process: the analysis's solver (z3) shares one context
# between threads, and two checks at once crash it (seen: the watcher's reload and a
# SIGHUP's, together). Reading and refusing a file need no turn.
_CHECKING = threading.Lock()


def load_folder(
    registry: Registry, folder: Path, metrics: Metrics | None = None, files: RuleFiles | None = None
) -> list[LoadResult]:
    """Every `*.tiers` file of the folder (start-up, SIGHUP); files refused before and
    unchanged since are left as they are."""
    try:
        paths = sorted(folder.glob("*.tiers"))
    except OSError as error:
        log.error("rules_folder_unreadable", folder=str(folder), error=error.strerror)
        return []
    files = files if files is not None else RuleFiles(folder)
    loaded = [load_file(registry, path, metrics, files=files) for path in _small_first(paths)]
    return [result for result in loaded if result is not None]


LARGE_BYTES = 1024 * 1024  # a file this large takes seconds to check: it is loaded last


def _small_first(paths: list[Path]) -> list[Path]:
    """By name, but files over `LARGE_BYTES` after the others: a huge file (a million
    lines take about 25 s to check) must not keep every other ruleset waiting."""

    def large(path: Path) -> bool:
        try:
            return path.stat().st_size > LARGE_BYTES
        except OSError:
            return False

    return sorted(paths, key=large)  # stable: by name within each group


class StartLoad:
    """The first load of the folder, in a thread of its own: the server waits for it at
    most `wait_s` before it listens, so no file (one that takes minutes to check) keeps
    it from listening; files still being checked then are served when they pass."""

    def __init__(self, registry: Registry, folder: Path, metrics: Metrics | None, files: RuleFiles):
        self.changed: Callable[[], None] = lambda: None  # health and metrics, once running
        self.done = threading.Event()
        self._args = (registry, folder, metrics, files)
        self._thread = threading.Thread(target=self._run, name="tierline-start-load", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            load_folder(*self._args)
        except Exception as error:
            log.error("reload_failed", error=repr(error), exc_info=error)
        finally:
            self.done.set()
            self.changed()

    def wait(self, wait_s: float) -> bool:
        """Whether every file was loaded within `wait_s`; if not, says so."""
        if self.done.wait(wait_s):
            return True
        log.warning(
            "rules_still_loading",
            folder=str(self._args[1]),
            waited_s=wait_s,
            note="listening now; the files still being checked serve once they pass",
        )
        return False


def load_file(
    registry: Registry,
    path: Path,
    metrics: Metrics | None = None,
    replacing: str | None = None,
    files: RuleFiles | None = None,
) -> LoadResult | None:
    """Read, check and offer one file; whatever goes wrong is that file's rejection.
    `replacing`: a file going away whose ruleset this one may take over. None: the file
    was refused before and has not changed since, so it is not read again."""
    files = files if files is not None else RuleFiles(path.parent)
    if files.still_refused(path):
        return None
    version = stat_key(path)  # before reading: a change during the read is a new version
    try:
        source = files.read(path)
    except (RuleError, Refused) as error:  # not a regular file, outside, too large, not UTF-8
        result = registry.refuse(str(path), str(error))
    except OSError as error:  # no permission, gone since it was listed
        result = registry.refuse(str(path), f"{path}: cannot be read: {error.strerror or error}")
    else:
        # Only reading is the file's: what activation does (keeping the source in the
        # archive, the decision log) is the service's, and never a reason to call it bad.
        with _CHECKING:
            result = registry.load(source, replacing)
    if result.accepted:
        files.accepted(path)
    elif result.entry.path == str(path):  # refused for what the file holds, not a name clash
        files.refused(path, version)
    return report_load(result, metrics)


def report_load(result: LoadResult, metrics: Metrics | None) -> LoadResult:
    if result.unchanged:
        return result
    if result.accepted:
        serving = result.entry.serving
        assert serving is not None
        log.info(
            "ruleset_loaded",
            ruleset=result.name,
            path=result.path,
            version=serving.version,
            digest=serving.digest,
            previous_digest=result.entry.previous_digest,
        )
    else:
        assert result.failure is not None
        log.error(
            "ruleset_rejected",
            ruleset=result.name,
            path=result.path,
            digest=result.failure.digest,
            serving_digest=result.entry.serving.digest if result.entry.serving else None,
            diagnostics=failure_message(result.failure, result.path),
        )
        if metrics is not None:
            metrics.rejected.labels(result.name).inc()
    return result


class FolderReload:
    """SIGHUP's reload of the whole folder, in a thread of its own: the signal loop runs on
    the main thread, and a file that takes long to check must not keep it from SIGTERM.
    A SIGHUP during a reload asks for one more after it; more than one are one."""

    def __init__(
        self,
        registry: Registry,
        folder: Path,
        metrics: Metrics | None,
        files: RuleFiles,
        changed: Callable[[], None],
    ):
        self.registry, self.folder, self.metrics = registry, folder, metrics
        self.files, self.changed = files, changed
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False

    def request(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(
                target=self._run, name="tierline-sighup-reload", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                load_folder(self.registry, self.folder, self.metrics, self.files)
            except Exception as error:  # the next SIGHUP must still work
                log.error("reload_failed", error=repr(error), exc_info=error)
            self.changed()
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                self._again = False
