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
from grpc_health.v1 import health

from engine.registry import Registry
from server.decision_log import DecisionLog, NoDecisionLog
from server.drain import Drain
from server.logs import get_logger
from server.metrics import Metrics
from server.settings import Settings

log = get_logger("tierline.server")


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
    health: health.HealthServicer
    decision_log: DecisionLog | NoDecisionLog
    drain: Drain
    metrics_port: int | None = None
    watcher: Stoppable | None = None  # the rule watcher, when rules are watched
    stopped: threading.Event = field(default_factory=threading.Event)

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight calls finish, then flush the decision log."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        self.health.enter_graceful_shutdown()
        if self.watcher is not None:
            self.watcher.stop()
        grace = self.settings.grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        # gRPC's own stop only once no classifier call is left (why: server/drain.py)
        unfinished = self.drain.close(grace)
        if unfinished:
            log.warning("calls_cut_at_shutdown", calls=unfinished, grace_seconds=grace)
        self.server.stop(max(0.0, deadline - time.monotonic())).wait()
        self.decision_log.close()
        log.info("server_stopped", dropped_decision_events=self.decision_log.dropped)
