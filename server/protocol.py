"""The wire, in the caller's language.

gRPC's Python server answers a request it cannot decode with INTERNAL
("Exception deserializing request!"): the caller is told the server broke
when it was the request that was malformed. This interceptor wraps every
method's request decoder: bytes that are not the method's message become a
marker, and the call ends with INVALID_ARGUMENT naming the message type
(for a stream: at the first such message). It also lets a servicer answer
with bytes it has already encoded, so that it can check an answer's size
against the largest message the server sends before it logs the decisions
in it (`server/service.py`), without encoding it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc


class Undecodable:
    """What a request decoder gives for bytes that are not its message."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why


def _message_name(deserializer: Callable[[bytes], Any]) -> str:
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "the method's request"))


def _decoder(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # DecodeError, or a nesting limit: the bytes are at fault
            reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            return Undecodable(reason)

    return decode


def _encoder(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    if serializer is None:
        return None

    def encode(response: Any) -> bytes:
        return response if type(response) is bytes else serializer(response)

    return encode


def _refuse(request: Undecodable, name: str, context: grpc.ServicerContext) -> None:
    context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request: the bytes received are not a valid {name} message ({request.why})",
    )


class ProtocolInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """INVALID_ARGUMENT for requests that cannot be decoded; answers given as bytes pass."""

    def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        name = _message_name(handler.request_deserializer)
        decode = _decoder(handler.request_deserializer)
        encode = _encoder(handler.response_serializer)

        def single(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                if type(request) is Undecodable:
                    _refuse(request, name, context)
                return behavior(request, context)

            return wrapped

        def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            for request in requests:
                if type(request) is Undecodable:
                    _refuse(request, name, context)
                yield request

        def many(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return behavior(checked(requests, context), context)

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                single(handler.unary_unary), request_deserializer=decode, response_serializer=encode
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                single(handler.unary_stream),
                request_deserializer=decode,
                response_serializer=encode,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                many(handler.stream_unary), request_deserializer=decode, response_serializer=encode
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                many(handler.stream_stream), request_deserializer=decode, response_serializer=encode
            )
        return handler
