"""Hot reload: watch the rules folder and load a changed file once it is quiet.

Editors save in several steps (truncate then write; write a temporary file
then rename), so a file is only read after it has been still for the
debounce time; a file that is still broken then is rejected and the previous
version keeps serving. A deleted file stops serving only if it is still gone
after the debounce time; callers then get NOT_FOUND listing the rulesets that
remain.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from engine.diagnostics import RuleError
from engine.load import read_source
from server.logs import get_logger

if TYPE_CHECKING:
    from server.app import Running

log = get_logger("tierline.reload")


class RuleWatcher:
    def __init__(self, running: Running):
        self.running = running
        self.folder = running.settings.rules.resolve()
        self.quiet_s = running.settings.debounce_ms / 1000
        self._stop = threading.Event()
        self._due: dict[Path, float] = {}
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []

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
            thread.join(timeout=5)

    def _watch(self) -> None:
        for changes in watchfiles.watch(
            self.folder,
            stop_event=self._stop,
            debounce=200,
            step=20,
            yield_on_timeout=False,
            rust_timeout=500,
        ):
            now = time.monotonic()
            with self._lock:
                for _change, raw in changes:
                    path = Path(raw)
                    if path.suffix == ".tiers" and path.parent == self.folder:
                        self._due[path] = now + self.quiet_s
                self._lock.notify_all()

    def _settle(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                ready = [p for p, due in self._due.items() if due <= now]
                for path in ready:
                    del self._due[path]
                if not ready:
                    wait = min(self._due.values(), default=now + 1) - now
                    self._lock.wait(timeout=max(0.01, wait))
                    continue
            for path in ready:
                self.reload(path)

    def reload(self, path: Path) -> None:
        from server.app import report_load

        running = self.running
        if not path.exists():
            name = running.registry.remove(str(self._display(path)))
            if name is not None:
                log.warning("ruleset_removed", ruleset=name, path=str(path))
                running.metrics.set_rulesets(running.registry.entries())
            return
        try:
            source = read_source(self._display(path))
        except (RuleError, OSError) as error:
            log.error("ruleset_rejected", path=str(path), diagnostics=str(error))
            return
        report_load(running.registry.load(source), running.metrics)
        running.metrics.set_rulesets(running.registry.entries())

    def _display(self, path: Path) -> Path:
        """The path as the server first named it (relative to where it runs, if it was)."""
        configured = self.running.settings.rules
        return configured / path.name if not configured.is_absolute() else path
