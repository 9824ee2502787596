"""Per-call observation: metrics by method and status code, the structlog context
(rpc, peer, request id) bound for everything logged during the call, the drain
that lets a stop wait for classifier calls in flight, and the bound on open streams.

Open streams are bounded because each one holds a serving thread for as long as it
is open, idle or not: without a bound, enough idle streams would leave no thread
for health checks and Classify. The pool is sized for the bound
(`server/app.py`), and a stream past it gets RESOURCE_EXHAUSTED at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import structlog

from server.drain import Drain
from server.logs import get_logger
from server.metrics import Metrics

log = get_logger("tierline.server")


class Slots:
    """At most `limit` at once; a slot is given back when its call terminates."""

    def __init__(self, limit: int):
        self.limit = limit
        self.taken = 0
        self._lock = threading.Lock()

    def take(self, context: grpc.ServicerContext) -> bool:
        with self._lock:
            if self.taken >= self.limit:
                return False
            self.taken += 1
        given_back = threading.Event()

        def give_back() -> None:
            if not given_back.is_set():
                given_back.set()
                with self._lock:
                    self.taken -= 1

        if not context.add_callback(give_back):  # the call has already terminated
            give_back()
        return True


class ObservingInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, metrics: Metrics, drain: Drain, drained_service: str, max_streams: int):
        self.metrics = metrics
        self.drain = drain
        self.drained = f"/{drained_service}/"  # health and reflection answer until the end
        self.streams = Slots(max_streams)

    def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]
        request_id = next(
            (v for k, v in details.invocation_metadata or () if k == "x-request-id"), ""
        )
        metrics = self.metrics
        drain = self.drain if details.method.startswith(self.drained) else None

        def admit(context: grpc.ServicerContext) -> None:
            if drain is None:
                return
            if not drain.admit():
                context.abort(
                    grpc.StatusCode.UNAVAILABLE, "tierline is shutting down: retry the call"
                )
            if not context.add_callback(drain.done):  # the call has already terminated
                drain.done()

        def finish(
            context: grpc.ServicerContext,
            started: float,
            failed: BaseException | None,
            ended: grpc.StatusCode | None = None,
        ) -> None:
            code = ended or (context.code() if hasattr(context, "code") else None)
            if code is None:
                code = grpc.StatusCode.INTERNAL if failed is not None else grpc.StatusCode.OK
            name = code.name if isinstance(code, grpc.StatusCode) else str(code)
            metrics.calls.labels(method, name).inc()
            metrics.latency.labels(method).observe(time.perf_counter() - started)

        def bind(context: grpc.ServicerContext) -> None:
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(
                rpc=method, peer=context.peer(), request_id=request_id
            )

        def unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                bind(context)
                started = time.perf_counter()
                try:
                    admit(context)
                    response = behavior(request, context)
                except Exception as error:
                    finish(context, started, error)
                    _internal(error, context)
                    raise
                finish(context, started, None)
                return response

            return wrapped

        streams = self.streams

        def streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                bind(context)
                started = time.perf_counter()
                counted = threading.Event()

                def once(failed: BaseException | None, ended: grpc.StatusCode | None) -> None:
                    if not counted.is_set():
                        counted.set()
                        finish(context, started, failed, ended)

                # A caller that cancels while the stream waits at a `yield` leaves the generator
                # suspended, closed only when it is collected: gRPC's own end of the call counts
                # it then, and whichever comes first counts once.
                context.add_callback(
                    lambda: once(None, _ended_by_caller(context) or grpc.StatusCode.CANCELLED)
                )
                try:
                    if not streams.take(context):
                        context.abort(
                            grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"{streams.limit} streams are open, the limit: "
                            "close one, or retry later",
                        )
                    admit(context)
                    yield from behavior(request, context)
                except Exception as error:
                    gone = _ended_by_caller(context)
                    if gone is not None:  # cancelled or past its deadline: not our error
                        once(None, gone)
                        return
                    once(error, None)
                    _internal(error, context)
                    raise
                except GeneratorExit:  # the caller went away between two messages
                    once(None, _ended_by_caller(context))
                    raise
                # The requests can also just end when the caller cancels: that is no OK.
                once(None, _ended_by_caller(context))

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                streaming(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _ended_by_caller(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """CANCELLED or DEADLINE_EXCEEDED when the call ended on the caller's side."""
    if context.is_active():
        return None
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _internal(error: Exception, context: grpc.ServicerContext) -> None:
    """An exception that is not an abort: never let it reach the caller as UNKNOWN."""
    if context.code() not in (None, grpc.StatusCode.OK):  # type: ignore[attr-defined]
        return  # context.abort() already set the status
    log.error("internal_error", error=repr(error), exc_info=error)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")
