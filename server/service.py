"""The Classifier servicer: proto in, engine call, proto out. Logic lives in engine/.

What reached the log reached the caller: an answer is encoded, and its size
checked against the largest message the server sends, before its decisions
are logged; one that cannot be sent is RESOURCE_EXHAUSTED and logs nothing.
Ids the caller sends are at most `MAX_ID_CHARS` (INVALID_ARGUMENT naming the
field), and no message quotes a caller's value longer than a few dozen
characters (`server/shown.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, Protocol

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from engine import ClassifyError, Decision, InputError, RuleConflict, Ruleset
from engine.decision import new_decision_id
from engine.registry import DigestNotLoaded, NoDefaultRuleset, Registry, UnknownRuleset
from server import columns, convert
from server.log_versions import LogUnavailable
from server.metrics import Metrics
from server.pb import pb, pb_grpc
from server.shown import (
    MAX_FILE_NAME_CHARS,
    MAX_ID_CHARS,
    MAX_STATUS_TEXT,
    MAX_VIOLATIONS,
    cut,
    names,
    quote,
)
from server.validation import ValidationRefused, Validator, too_large, validation

FULL = pb.DECISION_VIEW_FULL
DEADLINE_CHECK_EVERY = 256


class DecisionSink(Protocol):
    def record(
        self, rpc: str, request_id: str, latency_us: int, decisions: list[tuple[Decision, str]]
    ) -> None: ...

    def record_columns(
        self,
        rpc: str,
        request_id: str,
        latency_us: int,
        digest: str,
        batch_id: str,
        time_ns: int,
        segment: bytes,
        count: int,
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
        max_message_bytes: int = 32 * 1024 * 1024,
        max_column_rows: int = 1_000_000,
    ):
        self.max_column_rows = max_column_rows  # rows per ClassifyColumns call
        self.max_message_bytes = max_message_bytes  # the largest answer gRPC will send
        self.strict = strict  # refuse undeclared fields in every request
        self.validator = validator  # None: validate in this process (tests)
        self.hidden = hidden  # masked and hashed inputs: no error message shows their values
        self.registry = registry
        self.metrics = metrics
        self.sink = sink
        self.max_batch = max_batch
        self.encoder = convert.DecisionEncoder()

    # ---------------------------------------------------------------- classify

    def Classify(  # type: ignore[override]
        self, request: pb.ClassifyRequest, context: grpc.ServicerContext
    ) -> bytes:
        """The answer encoded (`server/protocol.py` sends bytes as they are)."""
        started = time.perf_counter_ns()
        full = _full_view(request.view, context)
        account_id = request.account.id
        _abort_if_long("account.id", account_id, context)
        request_id = _request_id(request.request_id, context)
        ruleset = self._ruleset(request.ruleset, request.digest, context)
        try:
            decision = self._classify(ruleset, request.strict)(
                convert.account_values(request.account)
            )
        except ClassifyError as error:
            self.metrics.input_errors.labels(ruleset.name, _code_name(error)).inc()
            _abort_for(convert.masked(error, self.hidden), context)
        self.metrics.count_decision(ruleset.name, decision)
        answer = self.encoder.response(decision, account_id, full).SerializeToString()
        self._fits(len(answer), context)
        latency = (time.perf_counter_ns() - started) // 1000
        self._record("Classify", request_id, latency, [(decision, account_id)], context)
        return answer

    def ClassifyBatch(  # type: ignore[override]
        self, request: pb.ClassifyBatchRequest, context: grpc.ServicerContext
    ) -> bytes:
        """The answer encoded, as Classify's."""
        started = time.perf_counter_ns()
        count = len(request.accounts)
        if count > self.max_batch:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"accounts: {count:,} accounts in one batch; the limit is {self.max_batch:,}",
            )
        full = _full_view(request.view, context)
        request_id = _request_id(request.request_id, context)
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
            if len(account_id) > MAX_ID_CHARS:
                result.error.CopyFrom(_too_long("account.id", account_id))
                continue
            result.account_id = account_id
            try:
                decision = classify(values(account))
            except ClassifyError as error:
                self.metrics.input_errors.labels(ruleset.name, _code_name(error)).inc()
                result.error.CopyFrom(_error(convert.masked(error, self.hidden)))
                continue
            decided.append((decision, account_id))
            fill(result.decision, decision, account_id, full)
        answer = response.SerializeToString()
        self._fits(len(answer), context)
        self.metrics.count_decisions(ruleset.name, (d for d, _ in decided))
        latency = (time.perf_counter_ns() - started) // 1000
        self._record("ClassifyBatch", request_id, latency, decided, context)
        return answer

    def ClassifyColumns(  # type: ignore[override]
        self, request: pb.ClassifyColumnsRequest, context: grpc.ServicerContext
    ) -> bytes:
        """Arrow in, Arrow out (`server/columns.py`); the batch goes to the log as one
        record and a columnar segment, before the answer goes out."""
        started = time.perf_counter_ns()
        request_id = _request_id(request.request_id, context)
        _abort_if_long("id_column", request.id_column, context)
        ruleset = self._ruleset(request.ruleset, request.digest, context)
        try:
            read = columns.read_columns(
                request.arrow_stream,
                request.id_column,
                ruleset.inputs,
                self.strict or request.strict,
                self.max_column_rows,
            )
        except columns.ColumnsRefused as refused:
            code = getattr(grpc.StatusCode, refused.code)
            context.abort(code, cut(str(refused), MAX_STATUS_TEXT))
        _check_deadline(context)
        time_ns = time.time_ns()
        batch_id = new_decision_id(time_ns)
        outcome = columns.too_long_ids(read, columns.evaluate(ruleset, read, self.hidden))
        _check_deadline(context)
        failed = outcome.failed
        decided = read.rows - failed
        answer = pb.ClassifyColumnsResponse(
            arrow_stream=columns.ipc_bytes(columns.outcome_table(read, outcome, batch_id)),
            ruleset=ruleset.name,
            version=ruleset.version,
            digest=ruleset.digest,
            decided=decided,
            failed=failed,
            ignored_columns=read.ignored,
            batch_id=batch_id,
        ).SerializeToString()
        self._fits(len(answer), context)
        if failed:
            self.metrics.input_errors.labels(ruleset.name, "INVALID_ARGUMENT").inc(failed)
        tiers = {rule.name: rule.tier for rule in ruleset.checked.tiers}
        self.metrics.count_tally(ruleset.name, columns.tally(outcome, tiers))
        latency = (time.perf_counter_ns() - started) // 1000
        if decided:
            segment = columns.ipc_bytes(columns.segment_table(read, outcome))
            try:
                self.sink.record_columns(
                    "ClassifyColumns",
                    request_id,
                    latency,
                    ruleset.digest,
                    batch_id,
                    time_ns,
                    segment,
                    decided,
                )
            except LogUnavailable as error:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        return answer

    def ClassifyStream(
        self, request_iterator: Iterator[pb.ClassifyRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ClassifyResponse]:
        request_id = _request_id("", context)
        for request in request_iterator:
            started = time.perf_counter_ns()
            account_id = request.account.id
            if len(account_id) > MAX_ID_CHARS or len(request.request_id) > MAX_ID_CHARS:
                field = "account.id" if len(account_id) > MAX_ID_CHARS else "request_id"
                value = account_id if field == "account.id" else request.request_id
                yield pb.ClassifyResponse(error=_too_long(field, value))
                continue
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
            response = self.encoder.response(decision, account_id, request.view == FULL)
            size = response.ByteSize()
            if size > self.max_message_bytes:  # not sent, so not logged
                yield pb.ClassifyResponse(account_id=account_id, error=self._too_large(size))
                continue
            self.metrics.count_decision(ruleset.name, decision)
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
            known = names([e.name for e in self.registry.entries()])
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"name: unknown ruleset {quote(request.name)} (known: {known})",
            )
        info = convert.entry_info(entry)
        if request.digest and (entry.serving is None or entry.serving.digest != request.digest):
            archived = self.registry.archived(request.digest)
            if archived is None:
                context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"digest: no archived source of {quote(request.name)} has digest "
                    f"{quote(request.digest)}",
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
        if len(file_name) > MAX_FILE_NAME_CHARS:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"file_name: {len(file_name):,} characters; at most {MAX_FILE_NAME_CHARS:,}",
            )
        unread = too_large(request.source, file_name)  # as loading would: not checked
        if unread is not None:
            return unread
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
            context.abort(grpc.StatusCode.NOT_FOUND, _unknown(error))
        except DigestNotLoaded as error:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"digest: {error}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _too_large(self, size: int) -> pb.Error:
        return pb.Error(
            code=code_pb2.RESOURCE_EXHAUSTED,
            message=f"the answer would be {size:,} bytes, more than the {self.max_message_bytes:,} "
            "this server sends; nothing was logged: ask for DECISION_VIEW_BASIC, fewer "
            "accounts, or shorter values",
        )

    def _fits(self, size: int, context: grpc.ServicerContext) -> None:
        """Before anything is logged: an answer gRPC would refuse to send never was given."""
        if size > self.max_message_bytes:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._too_large(size).message)


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
        _abort_if_long("request_id", given, context)
        return given
    for key, value in context.invocation_metadata():
        if key == "x-request-id":
            _abort_if_long("x-request-id", str(value), context)
            return str(value)
    return ""


def _too_long(field: str, value: str) -> pb.Error:
    return pb.Error(
        code=code_pb2.INVALID_ARGUMENT,
        message=f"{field}: {len(value):,} characters; at most {MAX_ID_CHARS:,}",
        field_violations=[pb.FieldViolation(field=field, description="too long")],
    )


def _abort_if_long(field: str, value: str, context: grpc.ServicerContext) -> None:
    if len(value) > MAX_ID_CHARS:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, _too_long(field, value).message)


def _unknown(error: UnknownRuleset) -> str:
    return f"ruleset: unknown ruleset {quote(error.name)} (known: {names(error.known)})"


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
            message=cut(str(error), MAX_STATUS_TEXT),
            field_violations=_violations(error),
        )
    if isinstance(error, NoDefaultRuleset):
        return pb.Error(code=code_pb2.INVALID_ARGUMENT, message=f"ruleset: {error}")
    if isinstance(error, UnknownRuleset):
        return pb.Error(code=code_pb2.NOT_FOUND, message=_unknown(error))
    if isinstance(error, DigestNotLoaded):
        return pb.Error(code=code_pb2.FAILED_PRECONDITION, message=f"digest: {error}")
    if isinstance(error, LogUnavailable):
        return pb.Error(code=code_pb2.UNAVAILABLE, message=str(error))
    return pb.Error(code=code_pb2.FAILED_PRECONDITION, message=cut(str(error), MAX_STATUS_TEXT))


def _violations(error: InputError) -> list[pb.FieldViolation]:
    """At most `MAX_VIOLATIONS`, each bounded: a status's details ride in its trailers."""
    return [
        pb.FieldViolation(field=cut(v.field, 256), description=cut(v.description, 512))
        for v in convert.field_violations(error)[:MAX_VIOLATIONS]
    ]


def _abort_for(error: ClassifyError, context: grpc.ServicerContext) -> NoReturn:
    if isinstance(error, InputError):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in _violations(error)
                ]
            )
        )
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=cut(str(error), MAX_STATUS_TEXT),
            details=[detail],
        )
        context.abort_with_status(rpc_status.to_status(status))
    assert isinstance(error, RuleConflict)
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, cut(str(error), MAX_STATUS_TEXT))
    raise AssertionError("unreachable")  # pragma: no cover
