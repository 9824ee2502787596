"""Hot reload: watch the rules folder and load a changed file once it is quiet.

Editors save in several steps (truncate then write; write a temporary file
then rename), so a file is only read after it has been still for the
debounce time; a file that is still broken then is rejected and the previous
version keeps serving. A deleted file stops serving only if it is still gone
after the debounce time; callers then get NOT_FOUND listing the rulesets that
remain.

File events can be missed: a file saved while the server starts, before the
watch is set up, or an event queue that overflowed. So the watcher first
compares the folder with what the registry loaded, and then, every few
seconds, each file's size and modification time with those it had when it
was last read: what events missed is loaded at most that much later.

Files are read as `server/rulefiles.py` reads them: a FIFO, a device or a
huge file in the folder is refused without blocking or filling memory, and a
refused file is not read again until it changes. Stopping does not wait for a
file being checked: the threads are daemons and the registry is swapped whole.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import watchfiles

from engine.registry import LoadState
from server.loading import load_file
from server.logs import get_logger
from server.rulefiles import RuleFiles, read_rule_text
from server.running import Running

log = get_logger("tierline.reload")


Signature = tuple[int, int] | None  # (mtime_ns, size), or None: the file is gone


class RuleWatcher:
    rescan_s = 2.0  # how often files are compared with what was last read
    join_s = 1.0  # how long `stop` waits for each thread (a long check is not waited for)

    def __init__(self, running: Running):
        self.running = running
        self.folder = running.settings.rules.resolve()
        self.quiet_s = running.settings.debounce_ms / 1000
        self._stop = threading.Event()
        self._due: dict[Path, float] = {}
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._read: dict[Path, Signature] = {}  # each file as it was when last read
        self._refolder = threading.Event()  # the rules symlink was re-pointed
        self.files = running.files or RuleFiles(running.settings.rules)

    def start(self) -> RuleWatcher:
        for target, name in ((self._watch, "tierline-watch"), (self._settle, "tierline-reload")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.join_s)

    def _watch(self) -> None:
        """File events; if the watch fails (the folder gone, unreadable), it starts again a
        second later, and the rescan finds what changed meanwhile."""
        while not self._stop.is_set():
            self._refolder.clear()
            folder = self.folder
            try:
                for changes in watchfiles.watch(
                    folder,
                    stop_event=_Either(self._stop, self._refolder),
                    debounce=200,
                    step=20,
                    yield_on_timeout=False,
                    rust_timeout=500,
                ):
                    now = time.monotonic()
                    with self._lock:
                        for _change, raw in changes:
                            path = Path(raw)
                            if path.suffix == ".tiers" and path.parent == folder:
                                self._due[path] = now + self.quiet_s
                        self._lock.notify_all()
            except Exception as error:
                log.warning("rules_watch_failed", folder=str(folder), error=repr(error))
                self._stop.wait(1.0)

    def _settle(self) -> None:
        """Load files once they are quiet. Nothing that goes wrong here ends the thread: a
        file that breaks the loader is that file's rejection, anything else is logged."""
        self._safely(self._reconcile)
        next_scan = time.monotonic() + self.rescan_s
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                if now >= next_scan:
                    self._safely(self._rescan)
                    next_scan = now + self.rescan_s
                ready = [p for p, due in self._due.items() if due <= now]
                for path in ready:
                    del self._due[path]
                if not ready:
                    wait = min(min(self._due.values(), default=next_scan), next_scan) - now
                    self._lock.wait(timeout=max(0.01, wait))
                    continue
            for path in ready:
                self._safely(functools.partial(self.reload, path))

    def _rescan(self) -> None:
        """(Holding the lock.) What no event reported: a moved folder, missed changes."""
        self._schedule(self._follow_folder() + self._missed(), time.monotonic())

    def _safely(self, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception as error:
            log.error("reload_failed", error=repr(error), exc_info=error)

    def _schedule(self, paths: list[Path], now: float) -> None:
        for path in paths:
            self._due.setdefault(path, now + self.quiet_s)  # an event's own time stands

    def _reconcile(self) -> None:
        """Files that changed, appeared or went between the first load and now."""
        latest: dict[Path, str | None] = {}  # each path's last version read: served or refused
        for entry in self.running.registry.entries():
            if entry.state is LoadState.SERVING and entry.serving is not None:
                latest[Path(entry.path).resolve()] = entry.serving.digest
            elif entry.last_error is not None:
                latest[Path(entry.path).resolve()] = entry.last_error.digest
        changed = []
        for path in self._tiers():
            signature = _signature(path)
            if self.files.still_refused(self._display(path)):
                self._read[path] = signature
                continue
            source = read_rule_text(self.running.settings.rules, self._display(path))
            digest = source.digest if source is not None else None
            if digest is not None and latest.get(path) == digest:
                self._read[path] = signature
            else:
                changed.append(path)
        changed += [p for p in latest if p.parent == self.folder and not p.exists()]
        with self._lock:
            self._schedule(changed, time.monotonic())

    def _missed(self) -> list[Path]:
        """Files whose size or time differs from when they were last read."""
        paths = set(self._tiers()) | set(self._read)
        return [p for p in paths if p not in self._due and _signature(p) != self._read.get(p)]

    def _tiers(self) -> list[Path]:
        try:
            return [p for p in self.folder.iterdir() if p.suffix == ".tiers"]
        except OSError:
            return []

    def reload(self, path: Path) -> None:
        running = self.running
        self._read[path] = _signature(path)  # before reading: a later write is seen again
        if not path.exists():
            gone = str(self._display(path))
            self._load_waiting(replacing=gone)  # a copy of its ruleset takes over first
            name = running.registry.remove(gone)
            if name is not None:
                entry = running.registry.entry(name)
                if entry is None or entry.serving is None:
                    log.warning("ruleset_removed", ruleset=name, path=str(path))
                self._load_waiting()
                running.rules_changed()
            return
        load_file(running.registry, self._display(path), running.metrics, files=self.files)
        running.rules_changed()

    def _load_waiting(self, replacing: str | None = None) -> None:
        """On a removal: files refused because the removed one held their ruleset's
        name (a rename, `mv a.tiers b.tiers`, or one of two copies deleted) serve now,
        without waiting for another save or a SIGHUP. Offered before the removal
        (`replacing`), such a file takes the name over with no moment unserved."""
        serving = {e.path for e in self.running.registry.entries() if e.serving}
        for path in self._tiers():
            shown = self._display(path)
            if str(shown) not in serving and str(shown) != replacing:
                load_file(self.running.registry, shown, self.running.metrics, replacing, self.files)

    def _display(self, path: Path) -> Path:
        """The path as the server first named it (`--rules` and the file's name)."""
        return self.running.settings.rules / path.name

    def _follow_folder(self) -> list[Path]:
        """A re-pointed symlink (`rules -> rules-v2`): watch the new target, and reload
        every file of both (a file only the old one had is removed)."""
        try:
            target = self.running.settings.rules.resolve()
        except OSError:
            return []
        if target == self.folder:
            return []
        old, self.folder = self.folder, target
        log.info("rules_folder_moved", was=str(old), now=str(target))
        self._refolder.set()
        names = {p.name for p in self._tiers()} | {p.name for p in self._read}
        self._read = {}
        return [target / name for name in sorted(names)]


class _Either:
    """Stops the file watch when the watcher stops or the folder changes."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


def _signature(path: Path) -> Signature:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
