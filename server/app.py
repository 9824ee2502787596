"""Build and run the gRPC server: `create_server` for tests, `serve` for `tierline serve`."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import time
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from engine.registry import Registry
from engine.ruleset import Ruleset
from server.archive import Archive, StartRefused, check_log_path
from server.decision_log import READY_WAIT_S, open_decision_log
from server.drain import Drain
from server.health import Health
from server.loading import FolderReload, StartLoad
from server.logs import get_logger
from server.metrics import Metrics
from server.observe import ObservingInterceptor
from server.pb import pb, pb_grpc
from server.protocol import ProtocolInterceptor
from server.rulefiles import RuleFiles
from server.running import Running
from server.security.callers import CallersFile, CallersProblem
from server.security.exposure import (
    authentication,
    loopback_only,
    refuse_plaintext_beyond_loopback,
)
from server.security.guard import Guard
from server.security.tls import CertificateFiles, CertificateProblem
from server.service import Classifier
from server.settings import Settings
from server.validation import Validator
from server.watch import RuleWatcher

log = get_logger("tierline.server")
SERVICE = pb.DESCRIPTOR.services_by_name["Classifier"].full_name
START_READY_S = 30.0  # how long the start waits for the log writer to take every ruleset


def _port_free(host: str, port: int) -> None:
    """Fail with one line naming the address before anything starts (gRPC's own refusal
    comes after the rules are loaded and the log writer started, as a traceback)."""
    if port == 0:
        return
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[
            0
        ]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(
                socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
            )  # as gRPC: TIME_WAIT is fine
            probe.bind(address)
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def create_server(settings: Settings) -> Running:
    """Load the rules, start gRPC (health, reflection), metrics and the decision log.
    Raises StartRefused (plaintext beyond loopback, certificate or token files that cannot
    be used, a log or archive that cannot be written) or OSError (the port) before
    anything is started."""
    refuse_plaintext_beyond_loopback(settings)
    _port_free(settings.host, settings.port)
    if settings.http_port:
        _port_free(settings.host, settings.http_port)
    if settings.decision_log != "off":  # a log whose decisions cannot be audited: refuse
        check_log_path(settings.decision_log)
        Archive(settings.archive_dir()).check_writable()
    metrics = Metrics()
    certificates, guard = _security(settings, metrics)
    drain = Drain()
    decision_log = open_decision_log(settings, metrics)
    registry = Registry(default=settings.default_ruleset, solver_ms=settings.solver_ms)
    started = False

    def on_activate(ruleset: Ruleset) -> None:
        # Archived and taken by the log before any call can get it; a reload waits for the
        # writer's word, the start waits once for all of them (below).
        decision_log.register(ruleset, READY_WAIT_S if started else 0.0)

    registry.on_activate = on_activate
    files = RuleFiles(settings.rules)  # never blocks on a FIFO, never reads past the limit
    first_load = StartLoad(registry, settings.rules, metrics, files)
    first_load.wait(settings.start_wait_seconds)  # a slow file does not keep it from listening
    if not decision_log.wait_ready(timeout=START_READY_S):  # calls wait for it, then fail
        log.warning("decision_log_not_ready", waited_s=START_READY_S)
    started = True

    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    # A thread for every stream and validation that may be open, and `workers` more for
    # everything else (health, Classify, ClassifyBatch): open streams cannot starve them.
    threads = settings.workers + settings.max_streams + settings.max_validations
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tierline-rpc"),
        interceptors=[
            ObservingInterceptor(metrics, drain, SERVICE, settings.max_streams),
            # callers and roles (when on): before a request is looked at, after it is counted
            *([guard] if guard is not None else []),
            ProtocolInterceptor(),  # undecodable requests: INVALID_ARGUMENT; bytes answers
        ],
        options=options,
        maximum_concurrent_rpcs=threads * 8,
    )
    hidden = frozenset([*settings.mask_fields, *settings.hash_fields])
    validator = Validator(settings.validate_workers, settings.max_validations, settings.solver_ms)
    classifier = Classifier(
        registry,
        metrics,
        decision_log,
        settings.max_batch,
        hidden,
        validator,
        max_message_bytes=settings.max_message_bytes,
        max_column_rows=settings.max_column_rows,
    )
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
    http = None
    # The same servicer, guard and log as HTTP/JSON; serving before gRPC listens (it does
    # at add_*_port, before `start`): whoever reaches the gRPC port reaches this one.
    if settings.http_port is not None:
        from server.http.serve import start_http  # Starlette and uvicorn: only when asked

        try:
            http = start_http(settings, classifier, guard, metrics, drain)
        except (OSError, CertificateProblem) as error:
            decision_log.close()
            validator.close()
            raise OSError(str(error)) from None
    address = f"{settings.host}:{settings.port}"
    try:
        if certificates is not None:
            port = server.add_secure_port(address, certificates.credentials())
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # taken between the probe and now
        port = 0
    if port == 0:
        if http is not None:
            http.stop()
        decision_log.close()
        validator.close()
        raise OSError(f"cannot listen on {settings.host}:{settings.port}")
    health_state = Health(health_servicer, (SERVICE,))
    if settings.log_when_full == "block":  # calls fail while the log cannot take them
        decision_log.on_health = lambda ok, why: health_state.set("decision_log", ok, why)
    metrics_port = None
    if settings.metrics_port is not None:  # before gRPC: up once the port takes calls
        try:
            metrics_port = metrics.serve(
                settings.metrics_port, settings.metrics_host, ready=health_state.status
            )
        except OSError as error:
            if http is not None:
                http.stop()
            decision_log.close()
            validator.close()
            where = f"{settings.metrics_host}:{settings.metrics_port}"
            raise OSError(f"cannot serve metrics on {where}: {error.strerror or error}") from None
    server.start()
    running = Running(
        server,
        port,
        settings,
        registry,
        metrics,
        health_state,
        decision_log,
        drain,
        validator,
        metrics_port,
        files=files,
        http=http,
        http_port=http.port if http is not None else None,
    )
    first_load.changed = running.rules_changed
    running.rules_changed()
    return running


def _security(settings: Settings, metrics: Metrics) -> tuple[CertificateFiles | None, Guard | None]:
    """The certificate files (TLS) and the interceptor for callers and roles (when
    tokens or client certificates identify callers); StartRefused when a file cannot be
    used, said in one line."""
    try:  # the callers first: they say nothing when they load, the certificates do
        callers = None
        if settings.auth_tokens is not None:
            callers = CallersFile(settings.auth_tokens, metrics)
        certificates = None
        if settings.tls_cert is not None and settings.tls_key is not None:
            certificates = CertificateFiles(
                settings.tls_cert, settings.tls_key, settings.tls_client_ca, metrics
            )
    except (CertificateProblem, CallersProblem) as problem:
        raise StartRefused(str(problem)) from None
    if callers is None and settings.tls_client_ca is None:
        return certificates, None
    return certificates, Guard(callers, settings.tls_client_ca is not None, metrics)


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; then stop gracefully and exit 0."""
    received: list[int] = []  # handlers only append: no locks, so a second signal cannot deadlock

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    # Before the port opens: a signal sent as soon as it accepts calls is a graceful stop.
    for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(handled, on_signal)
    running = create_server(settings)
    if settings.watch:
        running.watcher = RuleWatcher(running).start()
    reload = _folder_reload(running)
    _say_started(running)
    try:
        while True:
            time.sleep(0.1)
            while received:
                signum = received.pop(0)
                if signum == signal.SIGHUP:
                    log.info("reload_requested", signal="SIGHUP")
                    reload.request()  # in a thread: SIGTERM never waits for a reload
                    continue
                if signum == signal.SIGUSR1:
                    log.info("decision_log_reopen_requested", signal="SIGUSR1")
                    running.decision_log.reopen()
                    continue
                log.info("server_stopping", signal=signal.Signals(signum).name)
                return 0
    finally:  # whatever ended the loop, the stop is graceful and bounded
        running.stop()


def _say_started(running: Running) -> None:
    """The `server_started` event (on stderr, with the server's other events): where, what,
    and which default ruleset requests without one get, and why. stdout stays the decision
    log's alone; a person at a terminal also gets the one line to read."""
    settings = running.settings
    where = f"{settings.host}:{running.port}"
    served = [e.name for e in running.registry.entries() if e.serving]
    log.info(
        "server_started",
        address=where,
        rules=str(settings.rules),
        rulesets=served,
        default_ruleset=running.registry.default,
        default_ruleset_from=running.default_from,
        metrics_port=running.metrics_port,
        http_port=running.http_port,
        decision_log=settings.decision_log,
        archive=str(settings.archive_dir()) if settings.decision_log != "off" else None,
        tls=settings.tls,
        mtls=settings.tls_client_ca is not None,
        authentication=authentication(settings) or "off",
        **({"insecure": True} if settings.insecure and not settings.tls else {}),
    )
    _say_exposure(settings)
    if running.registry.default is None:
        log.warning(
            "no_default_ruleset",
            rulesets=served,
            why="no --default-ruleset, no ruleset 'synthesis' and not exactly one ruleset",
            fix="requests must name their ruleset, or start with --default-ruleset NAME",
        )
    if sys.stderr.isatty():
        with contextlib.suppress(OSError, ValueError):
            print(f"tierline listening on {where}", file=sys.stderr, flush=True)


def _say_exposure(settings: Settings) -> None:
    """Warnings a security reviewer would want in the log of a start that is allowed."""
    beyond = not loopback_only(settings.host)
    if beyond and not authentication(settings):
        log.warning(
            "no_authentication",
            address=settings.host,
            why="anyone who reaches the port may call every method",
            fix="--auth-tokens FILE, or --tls-client-ca FILE",
        )
    if beyond and not settings.tls and settings.auth_tokens is not None:
        log.warning(
            "tokens_over_plaintext",
            address=settings.host,
            why="--insecure: tokens cross the network in plaintext unless a proxy encrypts",
        )


def _folder_reload(running: Running) -> FolderReload:
    files = running.files or RuleFiles(running.settings.rules)
    return FolderReload(
        running.registry, running.settings.rules, running.metrics, files, running.rules_changed
    )
