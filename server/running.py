"""A started server and everything it owns, stopped in order.

`server/app.py` builds it, the signal loop and the rule watcher (`server/watch.py`)
act on it; it needs neither, so they import it and not each other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from engine.registry import Entry, Registry
from server.decision_log import DecisionLog, NoDecisionLog
from server.drain import Drain
from server.health import Health
from server.logs import get_logger
from server.metrics import Metrics
from server.rulefiles import RuleFiles
from server.settings import Settings
from server.validation import Validator

log = get_logger("tierline.server")
LOG_CLOSE_S = 4.0  # SIGTERM ends the process within the grace plus 5 s
DERIVED_DEFAULT = "synthesis"  # the common definition: the default when none is set


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class Running:
    """A started server and everything it owns, to stop in order."""

    server: grpc.Server
    port: int
    settings: Settings
    registry: Registry
    metrics: Metrics
    health: Health
    decision_log: DecisionLog | NoDecisionLog
    drain: Drain
    validator: Validator
    metrics_port: int | None = None
    watcher: Stoppable | None = None  # the rule watcher, when rules are watched
    default_from: str | None = None  # why the default ruleset is the one it is
    files: RuleFiles | None = None  # the rules folder's reader, and what it refused
    http: Stoppable | None = None  # the HTTP/JSON port (server/http/), when served
    http_port: int | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    def rules_changed(self) -> None:
        """After any load or removal: metrics, the default ruleset when none was set, the
        versions the decision log must take, and health (is the default still served?)."""
        entries = self.registry.entries()
        self.metrics.set_rulesets(entries)
        if self.settings.default_ruleset is not None:
            self.default_from = "configured"
        elif self.registry.default is None:
            self._derive_default(entries)
        self.decision_log.served(frozenset(e.serving.digest for e in entries if e.serving))
        self.health.set("rulesets", any(e.serving for e in entries), "no ruleset is served")
        default = self.registry.default
        if default:  # configured or derived; with none, requests name their ruleset
            served = any(e.name == default and e.serving for e in entries)
            self.health.set("default_ruleset", served, f"the default ruleset '{default}'")
        else:
            self.health.set("default_ruleset", True)

    def _derive_default(self, entries: list[Entry]) -> None:
        """No default configured: `synthesis` if served, else the only ruleset served, else
        none. Chosen once, then kept (and required by health) as if configured: a file
        added later must not change what requests without a ruleset get."""
        served = [e.name for e in entries if e.serving]
        if DERIVED_DEFAULT in served:
            chosen, why = DERIVED_DEFAULT, f"the ruleset '{DERIVED_DEFAULT}' is served"
        elif len(served) == 1:
            chosen, why = served[0], "the only ruleset served"
        else:
            return
        self.registry.default, self.default_from = chosen, why
        log.info("default_ruleset_chosen", default_ruleset=chosen, because=why)

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight calls finish, then flush the decision log: within
        the grace (what the calls leave of it goes to the log), or `LOG_CLOSE_S` for the
        log if the calls left less, whatever state its writer is in."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        self.health.stop()
        if self.watcher is not None:
            self.watcher.stop()
        grace = self.settings.grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        # gRPC's own stop only once no classifier call is left (why: server/drain.py)
        unfinished = self.drain.close(grace)
        if unfinished:
            log.warning("calls_cut_at_shutdown", calls=unfinished, grace_seconds=grace)
        self.server.stop(max(0.0, deadline - time.monotonic())).wait()
        if self.http is not None:  # its calls are drained too: what is left is idle
            self.http.stop()
        self.validator.close()
        # the log gets what the calls left of the grace, at least LOG_CLOSE_S: a writer
        # restarted just before SIGTERM re-sends every unconfirmed batch, and on a loaded
        # machine a fixed 4 s was not enough (decisions callers had were cut, counted)
        self.decision_log.close(max(LOG_CLOSE_S, deadline - time.monotonic()))
        self.metrics.close()
        log.info("server_stopped", dropped_decision_events=self.decision_log.dropped)
