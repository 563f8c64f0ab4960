"""An orchestrator that does nothing: every Infer gets the same served reply at once.

The sink against which `edgetier bench load` measures the load generator's own ceiling: no
routing, no agents, only gRPC's cost of answering (which shares the machine with the
generator, so the ceiling measured is a lower bound). Run as
`python -m edgetier.bench.null_orchestrator`; prints one JSON line with its address.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc

from edgetier.argtypes import port
from edgetier.bench import serve_until_signalled
from edgetier.v1 import common_pb2, orchestrator_pb2, orchestrator_pb2_grpc


class NullOrchestrator(orchestrator_pb2_grpc.OrchestratorServicer):
    """Answers Infer with a fixed reply: served on the device, a joule, a tenth of a second."""

    async def Infer(
        self, request: orchestrator_pb2.InferRequest, context: Any
    ) -> orchestrator_pb2.InferReply:
        return orchestrator_pb2.InferReply(
            request_id=request.request_id,
            tier=common_pb2.TIER_DEVICE,
            node=request.client_node,
            agent="null",
            model=request.model,
            ttft_s=0.05,
            latency_s=0.1,
            energy_j=1.0,
            output_tokens=request.max_tokens,
            prompt_tokens=request.prompt_tokens,
            slo_met=True,
            policy=request.policy,
        )


async def main(host: str, port: int) -> None:
    server = grpc.aio.server()
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(NullOrchestrator(), server)
    await serve_until_signalled(server, host, port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
