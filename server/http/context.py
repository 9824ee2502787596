"""What the servicer and the guard see of an HTTP call: the few methods of a gRPC
`ServicerContext` they use, so that the very code that answers gRPC answers HTTP.

`abort` raises `Aborted` (as gRPC's does, the call ends there); `api.py` turns it
into the HTTP status google.rpc's `code.proto` gives for the code and a JSON body
in the shape Google's HTTP APIs use: `{"error": {"code", "status", "message",
"details"}}`, with the same message (so the same field named first) and the same
details (a `google.rpc.BadRequest` naming each bad field) as the gRPC status."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

# google/rpc/code.proto: the HTTP mapping written beside each code.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
DETAILS_KEY = "grpc-status-details-bin"


class Aborted(Exception):
    """The call ended with a status other than OK: its code, message and details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: Sequence[any_pb2.Any] = (),
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = tuple(details)
        self._http_status = http_status  # where HTTP has a closer word (413) than the code

    @property
    def http_status(self) -> int:
        return self._http_status or HTTP_STATUS.get(self.code, 500)


class HttpContext:
    """A `grpc.ServicerContext` as far as `Classifier` and `Guard` use one.

    `metadata`: the request headers gRPC would carry as metadata (lower-case names:
    `authorization`, `x-request-id`). `peer`: gRPC's form, `ipv4:HOST:PORT`.
    `auth`: the verified client certificate's names in gRPC's auth-context keys.
    `deadline`: a `time.monotonic()` instant, when the caller gave a timeout."""

    def __init__(
        self,
        metadata: Sequence[tuple[str, str]],
        peer: str,
        auth: Mapping[str, list[bytes]] | None = None,
        deadline: float | None = None,
    ) -> None:
        self._metadata = tuple(metadata)
        self._peer = peer
        self._auth = dict(auth or {})
        self._deadline = deadline
        self._callbacks: list[Callable[[], None]] = []

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def is_active(self) -> bool:
        """True: a deadline passed is `time_remaining` 0 (DEADLINE_EXCEEDED, 504), not a
        cancel (499), and a caller who hung up is not seen before the answer is sent."""
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._callbacks.append(callback)
        return True

    def done(self) -> None:
        """The call is over (its answer handed to the server): run the callbacks once."""
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def abort(self, code: grpc.StatusCode, details: str) -> Any:
        raise Aborted(code, details)

    def abort_with_status(self, status: Any) -> Any:
        """As gRPC: the status's code and message, and the details it carries in its
        `grpc-status-details-bin` trailer (a packed `google.rpc.Status`)."""
        details: list[any_pb2.Any] = []
        for key, value in status.trailing_metadata or ():
            if key == DETAILS_KEY:
                details = list(status_pb2.Status.FromString(value).details)
        raise Aborted(status.code, status.details, details)
