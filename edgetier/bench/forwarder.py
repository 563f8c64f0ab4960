"""A bare gRPC forwarder: raw bytes in, raw bytes on, no parsing, no policy.

The floor of one extra Python gRPC (aio) hop, against which `edgetier bench overhead` measures
the orchestrator. Run as `python -m edgetier.bench.forwarder --target HOST:PORT`; prints one
JSON line with its address when it listens.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

import grpc

from edgetier.argtypes import port
from edgetier.bench import serve_until_signalled


class Forwarder(grpc.GenericRpcHandler):
    """Forwards every unary call, as bytes, to the same method on `channel`."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method
        handler = self._handlers.get(method)
        if handler is None:
            upstream = self.channel.unary_unary(method)

            async def forward(request: bytes, context: Any, call: Callable = upstream) -> bytes:
                return await call(request, timeout=context.time_remaining())

            handler = grpc.unary_unary_rpc_method_handler(forward)
            self._handlers[method] = handler
        return handler


async def main(target: str, host: str, port: int) -> None:
    channel = grpc.aio.insecure_channel(target)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Forwarder(channel),))
    await serve_until_signalled(server, host, port)
    await channel.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.target, args.host, args.port))
