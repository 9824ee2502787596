"""The loaded rulesets, by name and digest, swapped whole.

Readers take the current mapping without a lock (one reference read), so a
call that started on one version finishes on it. Writers (start-up, reload)
serialise on a lock and replace the mapping. A version is only activated if
it parses, checks, compiles and passes its own examples; otherwise the
previous version keeps serving and the rejection is kept for all to see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import PurePath

from engine.language.diagnostics import Diagnostic, RuleError
from engine.language.source import Source
from engine.load import SOLVER_MS, check_source
from engine.ruleset import Ruleset


class LoadState(StrEnum):
    SERVING = "serving"
    REJECTED = "rejected, serving previous"
    FAILED = "failed"


class UnknownRuleset(LookupError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        listed = ", ".join(known) if known else "none are loaded"
        super().__init__(f"unknown ruleset '{name}' (known: {listed})")


class NoDefaultRuleset(LookupError):
    """A request named no ruleset and there is no default to use: the caller must name one.
    Not "unknown ruleset ''": the caller's mistake is the missing name, so the message lists
    what can be named."""

    def __init__(self, known: list[str]):
        self.known = known
        listed = ", ".join(known) if known else "none are loaded"
        super().__init__(
            f"the request names no ruleset and there is no default ruleset; name one of: {listed}"
        )


class DigestNotLoaded(LookupError):
    def __init__(self, name: str, wanted: str, serving: str):
        self.wanted, self.serving = wanted, serving
        super().__init__(
            f"ruleset '{name}' is serving digest {serving[:12]}…, not the pinned {wanted[:12]}…"
        )


@dataclass(frozen=True)
class LoadFailure:
    at: float
    digest: str
    message: str  # rendered diagnostics or failing examples
    diagnostics: tuple[Diagnostic, ...] = ()
    source: Source | None = None


@dataclass(frozen=True)
class Entry:
    """What is known about one ruleset name."""

    name: str
    path: str
    serving: Ruleset | None = None
    loaded_at: float | None = None
    previous_digest: str | None = None
    last_error: LoadFailure | None = None
    confirmed_at: float | None = None  # when the file was last read back as the serving version

    @property
    def state(self) -> LoadState:
        if self.serving is None:
            return LoadState.FAILED
        settled = max(self.loaded_at or 0, self.confirmed_at or 0)
        if self.last_error is not None and self.last_error.at > settled:
            return LoadState.REJECTED
        return LoadState.SERVING


@dataclass(frozen=True)
class LoadResult:
    path: str
    name: str
    accepted: bool
    entry: Entry
    failure: LoadFailure | None = None
    unchanged: bool = False


@dataclass
class Registry:
    default: str | None = None
    on_activate: Callable[[Ruleset], None] | None = None  # e.g. archive the source by digest
    solver_ms: int = SOLVER_MS  # the analysis's budget per solver query
    _entries: dict[str, Entry] = field(default_factory=dict)  # replaced whole, never mutated
    _names_by_path: dict[str, str] = field(default_factory=dict)
    _sources: dict[str, str] = field(default_factory=dict)  # every version served, by digest
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ reads

    def get(self, name: str = "", digest: str = "") -> Ruleset:
        entries = self._entries
        key = name or self.default or ""
        if not key:
            raise NoDefaultRuleset(sorted(n for n, e in entries.items() if e.serving))
        entry = entries.get(key)
        if entry is None or entry.serving is None:
            raise UnknownRuleset(key, sorted(n for n, e in entries.items() if e.serving))
        if digest and digest != entry.serving.digest:
            raise DigestNotLoaded(key, digest, entry.serving.digest)
        return entry.serving

    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: e.name)

    def entry(self, name: str) -> Entry | None:
        return self._entries.get(name)

    def archived(self, digest: str) -> str | None:
        """The source of any version this registry ever served."""
        return self._sources.get(digest)

    # ----------------------------------------------------------------- writes

    def load(self, source: Source, replacing: str | None = None) -> LoadResult:
        """Parse, check, compile and run the examples; activate only if all pass.
        `replacing`: the path of a file that is going away, whose ruleset this file
        may take over (one of two copies deleted: the copy serves without a gap)."""
        path = source.path
        candidate, failure = _build(source, self.solver_ms)
        name = candidate.name if candidate else self._names_by_path.get(path, PurePath(path).stem)
        with self._lock:
            entries = dict(self._entries)
            if candidate is not None:
                clash = next(
                    (
                        e
                        for n, e in entries.items()
                        if n == name and e.path not in (path, replacing) and e.serving
                    ),
                    None,
                )
                if clash is not None:
                    failure = LoadFailure(
                        time.time(),
                        source.digest,
                        f"{path}: ruleset '{name}' is already loaded from {clash.path}; "
                        "rename one of them (the one already serving keeps serving)",
                        source=source,
                    )
                    entries[name] = replace(clash, last_error=failure)
                    self._entries = entries
                    return LoadResult(path, name, False, entries[name], failure)
            current = self._current(entries, path, name)
            if candidate is not None:
                if current and current.serving and current.serving.digest == candidate.digest:
                    # e.g. a broken save undone: the file again says what is serving
                    entries[name] = current = replace(current, confirmed_at=time.time())
                    self._entries = entries
                    return LoadResult(path, name, True, current, unchanged=True)
                taken = entries.get(name) if replacing is not None else None
                if taken is not None and taken.path == replacing and taken.serving:
                    current = taken  # the going file's version is the one replaced
                previous = current.serving.digest if current and current.serving else None
                entry = Entry(name, path, candidate, time.time(), previous, None)
                if self.on_activate is not None:  # before any call can get it: its decisions
                    self.on_activate(candidate)  # must find the decision log ready for them
                old_name = self._names_by_path.get(path)
                if old_name and old_name != name:
                    entries.pop(old_name, None)  # the file renamed its ruleset
                entries[name] = entry
                self._names_by_path = {**self._names_by_path, path: name}
                self._sources[candidate.digest] = candidate.source
                self._entries = entries
                return LoadResult(path, name, True, entry)
            assert failure is not None
            return self._reject(entries, path, current, failure, name)

    def refuse(self, path: str, message: str) -> LoadResult:
        """A file that could not be read at all (not UTF-8, a folder, no permission): it is
        rejected like a file that does not check, and shows so in the listing."""
        failure = LoadFailure(time.time(), "", message)
        name = self._names_by_path.get(path, PurePath(path).stem)
        with self._lock:
            entries = dict(self._entries)
            return self._reject(entries, path, self._current(entries, path, name), failure, name)

    def _current(self, entries: dict[str, Entry], path: str, name: str) -> Entry | None:
        """The entry that `path` last gave, under its new name or its old one."""
        old_name = self._names_by_path.get(path)
        current = entries.get(name) or (entries.get(old_name) if old_name else None)
        return current if current is not None and current.path == path else None

    def _reject(
        self,
        entries: dict[str, Entry],
        path: str,
        current: Entry | None,
        failure: LoadFailure,
        name: str,
    ) -> LoadResult:
        if current is not None:
            entry = replace(current, last_error=failure)
        else:
            entry = Entry(name, path, last_error=failure)
        entries[entry.name] = entry
        self._names_by_path = {**self._names_by_path, path: entry.name}
        self._entries = entries
        return LoadResult(path, entry.name, False, entry, failure)

    def remove(self, path: str) -> str | None:
        """Stop serving the ruleset loaded from `path`; returns its name."""
        with self._lock:
            name = self._names_by_path.get(path)
            entries = dict(self._entries)
            if name is not None and entries.get(name) and entries[name].path == path:
                del entries[name]
            for key, entry in entries.items():  # "already loaded from" a file that is gone
                failed = entry.last_error
                if failed is not None and failed.source is not None and failed.source.path == path:
                    entries[key] = replace(entry, last_error=None)
            self._names_by_path = {p: n for p, n in self._names_by_path.items() if p != path}
            self._entries = entries
            return name


def _build(source: Source, solver_ms: int) -> tuple[Ruleset | None, LoadFailure | None]:
    try:
        ruleset = Ruleset(check_source(source, solver_ms=solver_ms))
        failing = [r for r in ruleset.run_examples() if not r.passed]
    except RuleError as error:
        return None, LoadFailure(
            time.time(), source.digest, str(error), tuple(error.diagnostics), source
        )
    except Exception as error:  # a limit (memory, recursion) or a bug: refuse this file only
        message = f"{source.path}: cannot be loaded: {type(error).__name__}: {error}"
        return None, LoadFailure(time.time(), source.digest, message, source=source)
    if failing:
        lines = [f"{source.path}: {len(failing)} example(s) failed:"]
        for result in failing:
            lines.append(
                f'  {source.path}:{result.example.span.line} "{result.example.description}": '
                f"expected {result.expected()}, got {result.got()}"
            )
        return None, LoadFailure(time.time(), source.digest, "\n".join(lines), source=source)
    return ruleset, None
