"""The Classifier servicer: proto in, engine call, proto out. Logic lives in engine/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, Protocol

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from engine import ClassifyError, Decision, InputError, RuleConflict, Ruleset
from engine.registry import DigestNotLoaded, NoDefaultRuleset, Registry, UnknownRuleset
from server import convert
from server.log_versions import LogUnavailable
from server.metrics import Metrics
from server.pb import pb, pb_grpc
from server.validation import ValidationRefused, Validator, validation

FULL = pb.DECISION_VIEW_FULL
DEADLINE_CHECK_EVERY = 256


class DecisionSink(Protocol):
    def record(
        self, rpc: str, request_id: str, latency_us: int, decisions: list[tuple[Decision, str]]
    ) -> None: ...


class Classifier(pb_grpc.ClassifierServicer):
    def __init__(
        self,
        registry: Registry,
        metrics: Metrics,
        sink: DecisionSink,
        max_batch: int,
        hidden: frozenset[str] = frozenset(),
        validator: Validator | None = None,
        strict: bool = False,
    ):
        self.strict = strict  # refuse undeclared fields in every request
        self.validator = validator  # None: validate in this process (tests)
        self.hidden = hidden  # masked and hashed inputs: no error message shows their values
        self.registry = registry
        self.metrics = metrics
        self.sink = sink
        self.max_batch = max_batch
        self.encoder = convert.DecisionEncoder()

    # ---------------------------------------------------------------- classify

    def Classify(
        self, request: pb.ClassifyRequest, context: grpc.ServicerContext
    ) -> pb.ClassifyResponse:
        started = time.perf_counter_ns()
        full = _full_view(request.view, context)
        ruleset = self._ruleset(request.ruleset, request.digest, context)
        account_id = request.account.id
        try:
            decision = self._classify(ruleset, request.strict)(
                convert.account_values(request.account)
            )
        except ClassifyError as error:
            self.metrics.input_errors.labels(ruleset.name, _code_name(error)).inc()
            _abort_for(convert.masked(error, self.hidden), context)
        self.metrics.count_decision(ruleset.name, decision)
        response = self.encoder.response(decision, account_id, full)
        latency = (time.perf_counter_ns() - started) // 1000
        request_id = _request_id(request.request_id, context)
        self._record("Classify", request_id, latency, [(decision, account_id)], context)
        return response

    def ClassifyBatch(
        self, request: pb.ClassifyBatchRequest, context: grpc.ServicerContext
    ) -> pb.ClassifyBatchResponse:
        started = time.perf_counter_ns()
        count = len(request.accounts)
        if count > self.max_batch:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"accounts: {count:,} accounts in one batch; the limit is {self.max_batch:,}",
            )
        full = _full_view(request.view, context)
        ruleset = self._ruleset(request.ruleset, request.digest, context)
        fill = self.encoder.fill
        classify = self._classify(ruleset, request.strict)
        values = convert.account_reader(ruleset.checked.inputs)
        response = pb.ClassifyBatchResponse()
        add = response.results.add
        decided: list[tuple[Decision, str]] = []
        for index, account in enumerate(request.accounts):
            if index % DEADLINE_CHECK_EVERY == 0:
                _check_deadline(context)
            account_id = account.id
            result = add()
            result.account_id = account_id
            try:
                decision = classify(values(account))
            except ClassifyError as error:
                self.metrics.input_errors.labels(ruleset.name, _code_name(error)).inc()
                result.error.CopyFrom(_error(convert.masked(error, self.hidden)))
                continue
            decided.append((decision, account_id))
            fill(result.decision, decision, account_id, full)
        self.metrics.count_decisions(ruleset.name, (d for d, _ in decided))
        latency = (time.perf_counter_ns() - started) // 1000
        request_id = _request_id(request.request_id, context)
        self._record("ClassifyBatch", request_id, latency, decided, context)
        return response

    def ClassifyStream(
        self, request_iterator: Iterator[pb.ClassifyRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ClassifyResponse]:
        request_id = _request_id("", context)
        for request in request_iterator:
            started = time.perf_counter_ns()
            account_id = request.account.id
            if request.view not in _VIEWS:
                yield pb.ClassifyResponse(account_id=account_id, error=_bad_view(request.view))
                continue
            try:
                ruleset = self.registry.get(request.ruleset, request.digest)
                classify = self._classify(ruleset, request.strict)
                decision = classify(convert.account_values(request.account))
            except ClassifyError as error:
                yield pb.ClassifyResponse(
                    account_id=account_id, error=_error(convert.masked(error, self.hidden))
                )
                continue
            except LookupError as error:
                yield pb.ClassifyResponse(account_id=account_id, error=_error(error))
                continue
            self.metrics.count_decision(ruleset.name, decision)
            response = self.encoder.response(decision, account_id, request.view == FULL)
            latency = (time.perf_counter_ns() - started) // 1000
            try:  # logged before it is sent: a cancel after this message cannot lose it
                self.sink.record(
                    "ClassifyStream",
                    request.request_id or request_id,
                    latency,
                    [(decision, account_id)],
                )
            except LogUnavailable as error:
                yield pb.ClassifyResponse(account_id=account_id, error=_error(error))
                continue
            yield response

    # ---------------------------------------------------------------- rulesets

    def ListRulesets(
        self, request: pb.ListRulesetsRequest, context: grpc.ServicerContext
    ) -> pb.ListRulesetsResponse:
        return pb.ListRulesetsResponse(
            rulesets=[convert.entry_info(e) for e in self.registry.entries()],
            default_ruleset=self.registry.default or "",
        )

    def GetRuleset(
        self, request: pb.GetRulesetRequest, context: grpc.ServicerContext
    ) -> pb.GetRulesetResponse:
        entry = self.registry.entry(request.name)
        if entry is None:
            known = ", ".join(e.name for e in self.registry.entries()) or "none are loaded"
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"name: unknown ruleset '{request.name}' (known: {known})",
            )
        info = convert.entry_info(entry)
        if request.digest and (entry.serving is None or entry.serving.digest != request.digest):
            archived = self.registry.archived(request.digest)
            if archived is None:
                context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"digest: no archived source of '{request.name}' has digest {request.digest}",
                )
            return pb.GetRulesetResponse(
                info=convert.archived_info(archived, entry.path, request.digest), source=archived
            )
        return pb.GetRulesetResponse(
            info=info, source=entry.serving.source if entry.serving else ""
        )

    def ValidateRules(
        self, request: pb.ValidateRulesRequest, context: grpc.ServicerContext
    ) -> pb.ValidateRulesResponse:
        file_name = request.file_name or "candidate.tiers"
        if self.validator is None:
            return validation(request.source, file_name)
        try:
            return self.validator.validate(
                request.source, file_name, context.time_remaining(), context.is_active
            )
        except ValidationRefused as refused:
            context.abort(getattr(grpc.StatusCode, refused.code), str(refused))
        raise AssertionError("unreachable")  # pragma: no cover

    # ----------------------------------------------------------------- helpers

    def _classify(self, ruleset: Ruleset, strict: bool) -> Callable[[Any], Decision]:
        """`classify`, or `classify_strict` when the server or the request asks for it."""
        return ruleset.classify_strict if self.strict or strict else ruleset.classify

    def _record(
        self,
        rpc: str,
        request_id: str,
        latency_us: int,
        decided: list[tuple[Decision, str]],
        context: grpc.ServicerContext,
    ) -> None:
        """Into the log before the answer goes out: a decision a caller has is in the log."""
        try:
            self.sink.record(rpc, request_id, latency_us, decided)
        except LogUnavailable as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(error))

    def _ruleset(self, name: str, digest: str, context: grpc.ServicerContext) -> Ruleset:
        try:
            return self.registry.get(name, digest)
        except NoDefaultRuleset as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"ruleset: {error}")
        except UnknownRuleset as error:
            context.abort(grpc.StatusCode.NOT_FOUND, f"ruleset: {error}")
        except DigestNotLoaded as error:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"digest: {error}")
        raise AssertionError("unreachable")  # pragma: no cover


_VIEWS = frozenset([pb.DECISION_VIEW_UNSPECIFIED, pb.DECISION_VIEW_BASIC, FULL])


def _bad_view(view: int) -> pb.Error:
    return pb.Error(
        code=code_pb2.INVALID_ARGUMENT,
        message=f"view: unknown value {view}; "
        "use DECISION_VIEW_BASIC (1) or DECISION_VIEW_FULL (2)",
    )


def _full_view(view: int, context: grpc.ServicerContext) -> bool:
    if view not in _VIEWS:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, _bad_view(view).message)
    return view == FULL


def _request_id(given: str, context: grpc.ServicerContext) -> str:
    if given:
        return given
    for key, value in context.invocation_metadata():
        if key == "x-request-id":
            return str(value)
    return ""


def _check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed mid-batch")


def _code_name(error: Exception) -> str:
    return "INVALID_ARGUMENT" if isinstance(error, InputError) else "FAILED_PRECONDITION"


def _error(error: Exception) -> pb.Error:
    if isinstance(error, InputError):
        return pb.Error(
            code=code_pb2.INVALID_ARGUMENT,
            message=str(error),
            field_violations=convert.field_violations(error),
        )
    if isinstance(error, NoDefaultRuleset):
        return pb.Error(code=code_pb2.INVALID_ARGUMENT, message=f"ruleset: {error}")
    if isinstance(error, UnknownRuleset):
        return pb.Error(code=code_pb2.NOT_FOUND, message=f"ruleset: {error}")
    if isinstance(error, DigestNotLoaded):
        return pb.Error(code=code_pb2.FAILED_PRECONDITION, message=f"digest: {error}")
    if isinstance(error, LogUnavailable):
        return pb.Error(code=code_pb2.UNAVAILABLE, message=str(error))
    return pb.Error(code=code_pb2.FAILED_PRECONDITION, message=str(error))


def _abort_for(error: ClassifyError, context: grpc.ServicerContext) -> NoReturn:
    if isinstance(error, InputError):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=p.field, description=str(p))
                    for p in error.problems
                ]
            )
        )
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=str(error), details=[detail]
        )
        context.abort_with_status(rpc_status.to_status(status))
    assert isinstance(error, RuleConflict)
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
    raise AssertionError("unreachable")  # pragma: no cover
