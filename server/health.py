"""What `grpc.health.v1.Health` answers: SERVING only while every condition holds.

Conditions are set by the parts that know them: the decision log (under
`block`, a log that cannot be written means calls fail, so a load balancer
should send them elsewhere), the registry (the default ruleset must be
served), and the stop (NOT_SERVING at once, for good).
"""

from __future__ import annotations

import threading

from grpc_health.v1 import health, health_pb2

from server.logs import get_logger

log = get_logger("tierline.server")


class Health:
    def __init__(self, servicer: health.HealthServicer, services: tuple[str, ...]):
        self.servicer = servicer
        self.services = ("", *services)
        self._lock = threading.Lock()
        self._failing: dict[str, str] = {}  # condition -> why
        self._stopped = False
        self._publish()

    def set(self, condition: str, ok: bool, why: str = "") -> None:
        with self._lock:
            before = dict(self._failing)
            if ok:
                self._failing.pop(condition, None)
            else:
                self._failing[condition] = why
            if before != self._failing and not self._stopped:
                log.info("health_changed", serving=not self._failing, failing=self._failing)
                self._publish()

    @property
    def serving(self) -> bool:
        return not self._failing and not self._stopped

    def status(self) -> tuple[bool, dict[str, str]]:
        """Serving, and each failing condition with why: `/readyz` on the metrics port."""
        with self._lock:
            failing = dict(self._failing)
            if self._stopped:
                failing["stopping"] = "the server is stopping"
        return not failing, failing

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self.servicer.enter_graceful_shutdown()

    def _publish(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.NOT_SERVING
            if self._failing
            else health_pb2.HealthCheckResponse.SERVING
        )
        for service in self.services:
            self.servicer.set(service, status)
