"""The HTTP/JSON routes: each one a method of the Classifier servicer, called as gRPC
would call it, with the same guard, drain, metrics and decision log.

| route | method | role |
| --- | --- | --- |
| `POST /v1/classify` | Classify | classify |
| `POST /v1/classify:batch` | ClassifyBatch | classify |
| `GET /v1/rulesets` | ListRulesets | classify or read |
| `GET /v1/rulesets/{name}` (`?digest=`) | GetRuleset | read |
| `POST /v1/rules:validate` | ValidateRules | validate |
| `GET /openapi.json` | the description of the above | open |

Bodies are the proto3 JSON mapping of the request message (lowerCamelCase or the
proto's names, enums by name or number, int64 as a string or a number); answers
are the mapping of the response message, with fields at their default values
written out (an empty `labels` is `[]`, not absent), written by `answers.encode`
(the bytes json_format's mapping gives, without its cost). A call runs in the order a
gRPC call runs: the drain (refused once the server stops; admitted before the
body is read, so that a call begun is a call in flight), then in a worker thread
its context bound for the log (rpc, peer, request id), the guard (a caller and
its role, UNAUTHENTICATED before the body is looked at), then the body and the
servicer. Decisions reach the decision log before the answer is sent, as over gRPC.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
import orjson
import structlog
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from google.rpc import code_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.drain import Drain
from server.http.answers import encode
from server.http.context import Aborted, HttpContext
from server.http.openapi import document
from server.http.tls import PEER_NAMES
from server.logs import get_logger
from server.metrics import Metrics
from server.pb import pb
from server.security.guard import Guard
from server.service import Classifier
from server.shown import MAX_STATUS_TEXT, cut

log = get_logger("tierline.server")
SERVICE = "/tierline.v1.Classifier/"
JSON = "application/json"


@dataclass(frozen=True)
class Endpoint:
    """One route: the servicer's method, its request message, and where fields come from."""

    rpc: str
    request: type[Message]
    body: bool  # POST: the body is the request; GET: the path and query are


ENDPOINTS: dict[str, Endpoint] = {
    "/v1/classify": Endpoint("Classify", pb.ClassifyRequest, True),
    "/v1/classify:batch": Endpoint("ClassifyBatch", pb.ClassifyBatchRequest, True),
    "/v1/rulesets": Endpoint("ListRulesets", pb.ListRulesetsRequest, False),
    "/v1/rulesets/{name}": Endpoint("GetRuleset", pb.GetRulesetRequest, False),
    "/v1/rules:validate": Endpoint("ValidateRules", pb.ValidateRulesRequest, True),
}
RESPONSES: dict[str, type[Message]] = {
    "Classify": pb.ClassifyResponse,
    "ClassifyBatch": pb.ClassifyBatchResponse,
}


class HttpApi:
    """The Starlette application over one server's servicer, guard, drain and metrics."""

    def __init__(
        self,
        classifier: Classifier,
        guard: Guard | None,
        metrics: Metrics,
        drain: Drain,
        max_body_bytes: int,
    ):
        self.classifier = classifier
        self.guard = guard
        self.metrics = metrics
        self.drain = drain
        self.max_body_bytes = max_body_bytes
        self.openapi = orjson.dumps(document())

    def app(self) -> Starlette:
        routes = [
            Route(
                path,
                self._route(endpoint),
                methods=["POST"] if endpoint.body else ["GET"],
                name=endpoint.rpc,
            )
            for path, endpoint in ENDPOINTS.items()
        ]
        routes.append(Route("/openapi.json", self._openapi, methods=["GET"]))
        return Starlette(
            routes=routes,
            exception_handlers={HTTPException: _http_error},
        )

    async def _openapi(self, _request: Request) -> Response:
        return Response(self.openapi, media_type=JSON)

    def _route(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            started = time.perf_counter()
            admitted = self.drain.admit()  # before the body: a call begun is a call in flight
            try:
                if not admitted:
                    raise Aborted(
                        grpc.StatusCode.UNAVAILABLE, "tierline is shutting down: retry the call"
                    )
                body = await self._body(request) if endpoint.body else None
                if isinstance(body, Aborted):
                    raise body
                context = _context(request)
                params = {**request.query_params, **request.path_params}
                status, data = await run_in_threadpool(self._call, endpoint, context, body, params)
            except Aborted as aborted:
                status, data = aborted.http_status, _error_body(aborted)
                code = aborted.code
            else:
                code = grpc.StatusCode.OK
            finally:
                if admitted:
                    self.drain.done()
            self.metrics.calls.labels(endpoint.rpc, code.name).inc()
            self.metrics.latency.labels(endpoint.rpc).observe(time.perf_counter() - started)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return Response(data, status_code=status, media_type=JSON, headers=headers)

        return answer

    async def _body(self, request: Request) -> bytes | Aborted:
        """The body, or why it is refused: not JSON by its type, or larger than the
        largest message the server takes (read no further than that)."""
        kind = request.headers.get("content-type", JSON).split(";", 1)[0].strip().lower()
        if kind != JSON and not kind.endswith("+json"):
            return Aborted(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request: the body must be JSON (Content-Type: {JSON}), not {cut(kind, 80)}",
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                return Aborted(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"request: the body is over {self.max_body_bytes:,} bytes, the largest "
                    "message this server takes",
                    http_status=413,  # HTTP's own word for it; 429 would invite a retry
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _call(
        self,
        endpoint: Endpoint,
        context: HttpContext,
        body: bytes | None,
        params: dict[str, str],
    ) -> tuple[int, bytes]:
        """In a worker thread, as a gRPC call runs: bind, guard, decode, serve."""
        structlog.contextvars.clear_contextvars()
        request_id = next((v for k, v in context.invocation_metadata() if k == "x-request-id"), "")
        structlog.contextvars.bind_contextvars(
            rpc=endpoint.rpc, peer=context.peer(), request_id=request_id
        )
        try:
            if self.guard is not None:
                authorization = [
                    v for k, v in context.invocation_metadata() if k == "authorization"
                ]
                as_grpc = cast(grpc.ServicerContext, context)  # the methods it uses
                self.guard.check(SERVICE + endpoint.rpc, authorization, as_grpc)
            message = _decode(endpoint, body, params)
            try:
                answer = getattr(self.classifier, endpoint.rpc)(message, context)
            except Aborted:
                raise
            except Exception as error:  # never a traceback to the caller
                log.error("internal_error", error=repr(error), exc_info=error)
                raise Aborted(
                    grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}"
                ) from None
            if isinstance(answer, bytes):  # Classify and ClassifyBatch answer encoded
                answer = RESPONSES[endpoint.rpc].FromString(answer)
            return 200, encode(answer)
        finally:
            context.done()


def _decode(endpoint: Endpoint, body: bytes | None, params: dict[str, str]) -> Message:
    """The request message of a body (proto3 JSON) or of the path and query."""
    message = endpoint.request()
    name = message.DESCRIPTOR.full_name
    if body is None:
        fields = message.DESCRIPTOR.fields_by_name
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise Aborted(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{cut(unknown[0], 80)}: not a parameter of this call "
                f"(it takes: {', '.join(fields) or 'none'})",
            )
        for key, value in params.items():
            setattr(message, key, value)
        return message
    if not body.strip():
        return message  # an empty body is the empty message, as `{}`
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Aborted(
            grpc.StatusCode.INVALID_ARGUMENT, f"request: the body is not JSON ({error})"
        ) from None
    if not isinstance(parsed, dict):
        raise Aborted(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request: the body must be a JSON object (a {name}), not {type(parsed).__name__}",
        )
    problem = _enum_problem(cast(Descriptor, endpoint.request.DESCRIPTOR), parsed, "")
    if problem is not None:
        raise Aborted(grpc.StatusCode.INVALID_ARGUMENT, problem)
    try:
        fast = _classify_request(endpoint.request, parsed)
    except (ValueError, TypeError, OverflowError):  # e.g. a lone surrogate: the parser says
        fast = None
    if fast is not None:
        return fast
    try:
        json_format.ParseDict(parsed, message)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise Aborted(
            grpc.StatusCode.INVALID_ARGUMENT,
            cut(f"request: not a {name} in the proto3 JSON mapping: {first}", MAX_STATUS_TEXT),
        ) from None
    return message


_INT64 = range(-(2**63), 2**63)
_DIGITS = re.compile(r"-?[0-9]{1,19}")
_REQUEST_FIELDS = {
    "ruleset": "ruleset",
    "digest": "digest",
    "requestId": "request_id",
    "request_id": "request_id",
    "strict": "strict",
    "view": "view",
}


def _classify_request(kind: type[Message], data: dict[str, Any]) -> Message | None:
    """A Classify or ClassifyBatch request built straight from its JSON, for the plain
    shapes clients send (each value of the type the proto3 JSON mapping writes); None
    for anything else, which protobuf's parser then reads (and refuses, naming the
    field). The same message either way; three times faster than the parser on a
    batch (69 against 195 ms for 1,000 accounts, BENCHMARKS.md `secure_speed`)."""
    if kind is pb.ClassifyBatchRequest:
        many = "accounts"
    elif kind is pb.ClassifyRequest:
        many = ""
    else:
        return None
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name = _REQUEST_FIELDS.get(key)
        if name is None:
            if many and key == "accounts" and type(value) is list:
                accounts = [_account(a) for a in value]
                if None in accounts:
                    return None
                fields["accounts"] = accounts
                continue
            if not many and key == "account":
                account = _account(value)
                if account is None:
                    return None
                fields["account"] = account
                continue
            return None
        wanted = bool if name == "strict" else (str, int) if name == "view" else str
        if type(value) not in (wanted if isinstance(wanted, tuple) else (wanted,)):
            return None
        if name in fields:  # both spellings of one field: the parser's to refuse
            return None
        fields[name] = value
    return kind(**fields)


def _account(data: object) -> pb.Account | None:
    if type(data) is not dict or not data.keys() <= {"id", "attributes"}:
        return None
    account_id = data.get("id", "")
    attributes = data.get("attributes", {})
    if type(account_id) is not str or type(attributes) is not dict:
        return None
    values = {}
    for name, value in attributes.items():
        converted = _value(value)
        if converted is None:
            return None
        values[name] = converted
    return pb.Account(id=account_id, attributes=values)


def _value(data: object) -> pb.Value | None:
    if type(data) is not dict or len(data) != 1:
        return None
    ((kind, value),) = data.items()
    got = type(value)
    if kind in ("intValue", "int_value"):
        if got is int and value in _INT64:
            return pb.Value(int_value=value)
        if got is str and _DIGITS.fullmatch(value) and int(value) in _INT64:
            return pb.Value(int_value=int(value))
        return None
    if kind in ("doubleValue", "double_value") and (
        got is float or (got is int and value in _INT64)
    ):
        return pb.Value(double_value=value)
    if kind in ("stringValue", "string_value") and got is str:
        return pb.Value(string_value=value)
    if kind in ("boolValue", "bool_value") and got is bool:
        return pb.Value(bool_value=value)
    if kind in ("stringList", "string_list") and got is dict and value.keys() <= {"values"}:
        texts = value.get("values", [])
        if type(texts) is list and all(type(t) is str for t in texts):
            return pb.Value(string_list=pb.StringList(values=texts))
    return None


def _enum_problem(descriptor: Descriptor, data: object, path: str) -> str | None:
    """protobuf's JSON parser takes an enum as 0.5, true, "1" or 2**40 (read as 0): here an
    enum is one of its names or a whole number in int32, else INVALID_ARGUMENT naming the
    field. Only messages that can hold an enum are walked (accounts are not)."""
    if not isinstance(data, dict) or not _holds_enum(descriptor):
        return None
    for key, value in data.items():
        field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None or value is None:
            continue  # unknown fields and nulls: the parser's to judge
        where = f"{path}.{field.json_name}" if path else field.json_name
        values = value if field.is_repeated and isinstance(value, list) else [value]
        for item in values:
            if field.enum_type is not None:
                names = field.enum_type.values_by_name
                if not (
                    (isinstance(item, str) and item in names)
                    or (type(item) is int and -(2**31) <= item < 2**31)
                ):
                    return (
                        f"{where}: {cut(repr(item), 40)} is not a value of "
                        f"{field.enum_type.name} ({', '.join(names)}, or a number)"
                    )
            elif field.message_type is not None:
                problem = _enum_problem(field.message_type, item, where)
                if problem is not None:
                    return problem
    return None


@functools.cache
def _holds_enum(descriptor: Descriptor) -> bool:
    """Whether a message has an enum field, itself or in a message it holds."""
    seen: set[str] = set()
    waiting = [descriptor]
    while waiting:
        current = waiting.pop()
        if current.full_name in seen:
            continue
        seen.add(current.full_name)
        for field in current.fields:
            if field.enum_type is not None:
                return True
            if field.message_type is not None:
                waiting.append(field.message_type)
    return False


def _context(request: Request) -> HttpContext:
    """The call's context: headers as gRPC metadata, the peer in gRPC's form, the client
    certificate's names, and the caller's timeout (`X-Server-Timeout`, seconds) as a
    deadline."""
    metadata = [
        (key.decode("latin-1"), value.decode("latin-1"))
        for key, value in request.scope["headers"]
        if key in (b"authorization", b"x-request-id")
    ]
    client = request.client
    if client is None:
        peer = "unknown"
    elif ":" in client.host:
        peer = f"ipv6:[{client.host}]:{client.port}"
    else:
        peer = f"ipv4:{client.host}:{client.port}"
    names = request.scope.get("state", {}).get(PEER_NAMES)
    timeout = _timeout(request.headers.get("x-server-timeout"))
    deadline = time.monotonic() + timeout if timeout is not None else None
    return HttpContext(metadata, peer, names, deadline)


def _timeout(value: str | None) -> float | None:
    """`X-Server-Timeout` (seconds, as Google's HTTP APIs take it): a positive finite
    number, else INVALID_ARGUMENT naming the header (a typo must not mean no deadline)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise Aborted(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"x-server-timeout: {cut(value, 40)!r} is not a number of seconds above 0",
        )
    return seconds


def _error_body(aborted: Aborted) -> bytes:
    """Google's HTTP error shape: HTTP status, gRPC code name, message, details."""
    details = [json_format.MessageToDict(d) for d in aborted.details]
    return orjson.dumps(
        {
            "error": {
                "code": aborted.http_status,
                "status": aborted.code.name,
                "message": aborted.message,
                **({"details": details} if details else {}),
            }
        }
    )


async def _http_error(request: Request, error: Exception) -> Response:
    """A path or HTTP method this port does not serve: the same JSON error shape."""
    assert isinstance(error, HTTPException)
    code = {404: code_pb2.NOT_FOUND, 405: code_pb2.UNIMPLEMENTED}.get(
        error.status_code, code_pb2.INVALID_ARGUMENT
    )
    if error.status_code == 404:
        message = f"no such endpoint: {cut(request.url.path, 120)}; GET /openapi.json lists them"
    elif error.status_code == 405:
        message = f"{request.method} is not served on {cut(request.url.path, 120)}"
    else:
        message = str(error.detail)
    body = {"code": error.status_code, "status": code_pb2.Code.Name(code), "message": message}
    return Response(
        orjson.dumps({"error": body}),
        status_code=error.status_code,
        media_type=JSON,
        headers=dict(error.headers or {}),
    )
