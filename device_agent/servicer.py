"""The `edgetier.v1.DeviceAgent` gRPC service: protobuf in, core call, protobuf or status out.

Deliberately thin: every decision lives in `device_agent.agent`; this maps its refusals to the
status codes agent.proto documents, so the router can tell "try another tier" (queue full,
does not fit, unavailable) from "the request is wrong" (invalid argument, not found).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from device_agent import convert
from device_agent.agent import Agent, RunError
from device_agent.node_driver import Ticket
from device_agent.streaming import stream_run
from edgetier.v1 import agent_pb2, agent_pb2_grpc


class DeviceAgentServicer(agent_pb2_grpc.DeviceAgentServicer):
    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def _submit(
        self, request: agent_pb2.RunRequest, context: grpc.aio.ServicerContext
    ) -> Ticket:
        try:
            return self._agent.submit(convert.run_command(request))
        except RunError as error:
            await context.abort(grpc.StatusCode[error.refusal.status], error.message)

    async def Run(
        self, request: agent_pb2.RunRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.RunReply:
        ticket = await self._submit(request, context)
        # Shielded: a client that goes away cancels this wait, not the accepted request.
        return convert.run_reply(await asyncio.shield(ticket.done))

    async def RunStream(
        self, request: agent_pb2.RunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.RunStreamMessage]:
        ticket = await self._submit(request, context)
        async for item in stream_run(self._agent.nodes[ticket.node], ticket):
            yield convert.stream_message(item)

    async def Describe(
        self, request: agent_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DescribeReply:
        agent = self._agent
        state = "up" if agent.accepting else "down"
        return agent_pb2.DescribeReply(
            agent=agent.name,
            nodes=[
                convert.node_info(node, agent.name, agent.settings.group.tier, state)
                for node in agent.describe()
            ],
        )
