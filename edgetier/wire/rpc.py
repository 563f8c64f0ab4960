"""Registering a servicer so that a malformed request is an answer, not a crash.

The generated `add_*Servicer_to_server` functions parse requests with `FromString`; bytes that
are not a valid message (truncated frames, invalid UTF-8 in a string field) then fail inside
gRPC and the client sees INTERNAL. `add_servicer` registers the same methods with a parser that
turns such bytes into a `Malformed` marker, answered with INVALID_ARGUMENT naming the message,
so every reply is one of the documented status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass


@dataclass(frozen=True)
class Malformed:
    message_type: str
    error: str

    @property
    def details(self) -> str:
        return f"request: not a valid {self.message_type} ({self.error})"


def _lenient(cls: type[Message]) -> Callable[[bytes], Message | Malformed]:
    def parse(data: bytes) -> Message | Malformed:
        try:
            return cls.FromString(data)
        except DecodeError as exc:
            return Malformed(cls.DESCRIPTOR.full_name, str(exc) or "cannot parse")

    return parse


def _unary(impl: Callable[..., Any]) -> Callable[..., Any]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.details)
        return await impl(request, context)

    return handle


def _streaming(impl: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.details)
        async for item in impl(request, context):
            yield item

    return handle


def add_servicer(servicer: object, server: grpc.aio.Server, service: ServiceDescriptor) -> None:
    """Register every method of `service` (unary or server-streaming) implemented by
    `servicer` on an aio `server`, with lenient request parsing."""
    handlers = {}
    for method in service.methods:
        impl = getattr(servicer, method.name)
        parse = _lenient(GetMessageClass(method.input_type))
        serialize = GetMessageClass(method.output_type).SerializeToString
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _streaming(impl), request_deserializer=parse, response_serializer=serialize
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _unary(impl), request_deserializer=parse, response_serializer=serialize
            )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
