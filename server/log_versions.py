"""Which ruleset versions the decision log takes decisions of, and why not the others.

A decision line is only worth writing if `tierline audit` can replay it later: the
source of its version must be kept in the archive by digest (`server/archive.py`),
and the writer process must be able to encode that version's lines. A version is
*ready* once both hold; until then its decisions must not look logged. What that means
for a call is the policy's: `block` fails it (UNAVAILABLE naming the decision log),
`drop` counts its decisions as dropped. A version the writer has not yet judged (it is
starting) is waited for under `block` and sent on under `drop` (the writer gets the
source before the decisions: they are written, or counted as failed).

Every failure here is the log's, never the rule file's: a source that cannot be kept
(a folder gone read-only) is tried again at every `retry_archive` until it works, and
health asks only about the versions the registry serves now (`served`), so a replaced
version stops mattering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from server.archive import Archive
from server.logs import get_logger

log = get_logger("tierline.decision_log")


class LogUnavailable(Exception):
    """The log cannot take this call's decisions now (`block`): the call fails, UNAVAILABLE."""


class Versions:
    def __init__(self, archive: Archive, policy: str, wait_s: float):
        self.archive = archive
        self.policy = policy
        self.wait_s = wait_s
        self.on_change: Callable[[], None] = lambda: None  # health follows
        self.ready: set[str] = set()  # digests whose decisions the log takes: read unlocked
        self._cond = threading.Condition()
        self._names: dict[str, str] = {}  # digest -> ruleset name, for messages
        self._failing: dict[str, str] = {}  # digest -> why its decisions cannot be logged
        self._unarchived: dict[str, tuple[str, str]] = {}  # digest -> (source, why not kept)
        self._encodable: dict[str, str] = {}  # the writer's verdict by digest: "" or why not
        self._served: frozenset[str] = frozenset()  # digests the registry serves now

    def add(self, digest: str, name: str, source: str) -> None:
        """A new version: keep its source now (the writer is sent it by the caller)."""
        self._names[digest] = name
        self.keep_source(digest, source)

    def keep_source(self, digest: str, source: str) -> None:
        """Archive `source`; on failure note why (its decisions are then refused or
        counted) and let `retry_archive` try again."""
        try:
            self.archive.keep(digest, source)
        except OSError as error:
            why = f"cannot keep its source in {self.archive.folder}: {error.strerror or error}"
            with self._cond:
                first = digest not in self._unarchived
                self._unarchived[digest] = (source, why)
                self._settle(digest)
            if first:
                log.error(
                    "decision_log_archive_failed",
                    ruleset=self._names.get(digest),
                    digest=digest,
                    archive=str(self.archive.folder),
                    error=error.strerror or str(error),
                    policy=self.policy,
                )
                self.on_change()
            return
        with self._cond:
            recovered = self._unarchived.pop(digest, None) is not None
            if recovered:
                self._settle(digest)
        if recovered:
            log.info(
                "decision_log_archive_recovered", ruleset=self._names.get(digest), digest=digest
            )
            self.on_change()

    @property
    def unarchived(self) -> bool:
        return bool(self._unarchived)

    def retry_archive(self) -> None:
        """Sources not yet kept: try again (a folder made writable again)."""
        with self._cond:
            pending = [(d, source) for d, (source, _why) in self._unarchived.items()]
        for digest, source in pending:
            self.keep_source(digest, source)

    def verdict(self, digest: str, why: str) -> None:
        """The writer built (`why` "") or could not build the lines of this version."""
        with self._cond:
            before = self._encodable.get(digest)
            now = self._encodable[digest] = f"cannot encode its decisions: {why}" if why else ""
            self._settle(digest)
        if why and before != now:
            log.error(
                "decision_log_ruleset_unusable",
                ruleset=self._names.get(digest),
                digest=digest,
                error=why,
                policy=self.policy,
            )
        self.on_change()

    def wait_judged(self, digests: list[str] | None, timeout: float) -> bool:
        """Wait until the writer has judged every digest (all added ones when None)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                wanted = list(self._names) if digests is None else digests
                if all(d in self._encodable for d in wanted):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))

    def served(self, digests: frozenset[str]) -> None:
        with self._cond:
            self._served = digests
        self.on_change()

    def failing_served(self) -> list[str]:
        """Why the log cannot take the decisions of each version served now."""
        with self._cond:
            return [self._failing[d] for d in sorted(self._served) if d in self._failing]

    def admit(self, digest: str, policy: str) -> bool:
        """Can the log take decisions of this version (not in `ready`)? False: count them
        as dropped (`drop`); LogUnavailable: fail the call (`block`)."""
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            while digest not in self.ready:
                failing = self._failing.get(digest)
                if failing is not None:
                    if policy == "drop":
                        return False
                    raise LogUnavailable(failing)
                if policy == "drop":
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    name = self._names.get(digest, "?")
                    raise LogUnavailable(
                        f"the decision log has not yet taken ruleset '{name}' "
                        f"(digest {digest[:12]}…): its writer is starting"
                    )
                self._cond.wait(min(left, 0.1))
        return True

    def _settle(self, digest: str) -> None:
        """Ready, failing, or not yet judged. (Called holding `_cond`.)"""
        why = self._unarchived.get(digest, ("", ""))[1] or self._encodable.get(digest, "")
        if why:
            name = self._names.get(digest, "?")
            self._failing[digest] = (
                f"the decision log cannot take decisions of ruleset '{name}' "
                f"(digest {digest[:12]}…): {why}"
            )
            self.ready.discard(digest)
        else:
            self._failing.pop(digest, None)
            if digest in self._encodable:
                self.ready.add(digest)
        self._cond.notify_all()
