"""Build and run the gRPC server: `create_server` for tests, `serve` for `tierline serve`."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from engine.language.diagnostics import RuleError
from engine.load import read_source
from engine.registry import LoadResult, Registry
from engine.ruleset import Ruleset
from server.decision_log import DecisionLog, NoDecisionLog, open_decision_log
from server.drain import Drain
from server.logs import get_logger
from server.metrics import Metrics
from server.observe import ObservingInterceptor
from server.pb import pb, pb_grpc
from server.service import Classifier
from server.settings import Settings

log = get_logger("tierline.server")
SERVICE = pb.DESCRIPTOR.services_by_name["Classifier"].full_name


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
    watcher: object | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight calls finish, then flush the decision log."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        self.health.enter_graceful_shutdown()
        stop = getattr(self.watcher, "stop", None)
        if stop is not None:
            stop()
        grace = self.settings.grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        # gRPC's own stop only once no classifier call is left (why: server/drain.py)
        unfinished = self.drain.close(grace)
        if unfinished:
            log.warning("calls_cut_at_shutdown", calls=unfinished, grace_seconds=grace)
        self.server.stop(max(0.0, deadline - time.monotonic())).wait()
        self.decision_log.close()
        log.info("server_stopped", dropped_decision_events=self.decision_log.dropped)


def archive_source(settings: Settings) -> Callable[[Ruleset], None]:
    directory = settings.archive_dir()

    def archive(ruleset: Ruleset) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{ruleset.digest}.tiers"
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_text(ruleset.source, encoding="utf-8")
            tmp.replace(target)

    return archive


def load_folder(
    registry: Registry, folder: Path, metrics: Metrics | None = None
) -> list[LoadResult]:
    results = []
    for path in sorted(folder.glob("*.tiers")):
        try:
            source = read_source(path)
        except RuleError as error:  # not UTF-8, too large
            log.error("ruleset_rejected", path=str(path), diagnostics=str(error))
            continue
        except OSError as error:
            log.error("ruleset_unreadable", path=str(path), error=error.strerror)
            continue
        results.append(report_load(registry.load(source), metrics))
    return results


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
            diagnostics=result.failure.message,
        )
        if metrics is not None:
            metrics.rejected.labels(result.name).inc()
    return result


def create_server(settings: Settings) -> Running:
    """Load the rules, start gRPC (health, reflection), metrics and the decision log."""
    metrics = Metrics()
    drain = Drain()
    decision_log = open_decision_log(settings, metrics)
    registry = Registry(default=settings.default_ruleset)

    def on_activate(ruleset: Ruleset) -> None:
        archive(ruleset)
        decision_log.register(ruleset)

    archive = archive_source(settings)
    registry.on_activate = on_activate
    load_folder(registry, settings.rules, metrics)
    metrics.set_rulesets(registry.entries())

    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="tierline-rpc"),
        interceptors=[ObservingInterceptor(metrics, drain, SERVICE)],
        options=options,
        maximum_concurrent_rpcs=settings.workers * 64,
    )
    classifier = Classifier(registry, metrics, decision_log, settings.max_batch)
    pb_grpc.add_ClassifierServicer_to_server(classifier, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        decision_log.close()
        raise OSError(f"cannot listen on {settings.host}:{settings.port}")
    server.start()
    serving = any(e.serving for e in registry.entries())
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    health_servicer.set("", status)
    health_servicer.set(SERVICE, status)
    metrics_port = (
        metrics.serve(settings.metrics_port, settings.host)
        if settings.metrics_port is not None
        else None
    )
    return Running(
        server,
        port,
        settings,
        registry,
        metrics,
        health_servicer,
        decision_log,
        drain,
        metrics_port,
    )


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; then stop gracefully and exit 0."""
    running = create_server(settings)
    if settings.watch:
        from server.watch import RuleWatcher

        running.watcher = RuleWatcher(running).start()
    where = f"{settings.host}:{running.port}"
    log.info(
        "server_started",
        address=where,
        rules=str(settings.rules),
        rulesets=[e.name for e in running.registry.entries() if e.serving],
        metrics_port=running.metrics_port,
        decision_log=settings.decision_log,
    )
    received: list[int] = []  # handlers only append: no locks, so a second signal cannot deadlock

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    print(f"tierline listening on {where}", flush=True)
    while True:
        time.sleep(0.1)
        while received:
            signum = received.pop(0)
            if signum == signal.SIGHUP:
                log.info("reload_requested", signal="SIGHUP")
                _reload_all(running)
                continue
            log.info("server_stopping", signal=signal.Signals(signum).name)
            running.stop()
            return 0


def _reload_all(running: Running) -> None:
    load_folder(running.registry, running.settings.rules, running.metrics)
    running.metrics.set_rulesets(running.registry.entries())
