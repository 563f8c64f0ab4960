"""Protobuf <-> core conversions, in one place: the servicer and the registration loop both
describe nodes, and the core never sees a protobuf message."""

from __future__ import annotations

from device_agent.agent import RunCommand
from device_agent.node_driver import NodeSnapshot, RunResult
from device_agent.streaming import TokenOut
from edgetier.v1 import agent_pb2, common_pb2
from edgetier.wire.tiers import TIER_VALUES
from npu_sim.hardware import Tier


def run_command(request: agent_pb2.RunRequest) -> RunCommand:
    return RunCommand(
        node=request.node,
        model=request.model,
        request_id=request.request_id,
        prompt_tokens=request.prompt_tokens,
        output_tokens=request.output_tokens,
    )


def run_reply(result: RunResult) -> agent_pb2.RunReply:
    return agent_pb2.RunReply(
        node=result.node,
        request_id=result.request_id,
        model=result.model,
        queue_s=result.queue_s,
        ttft_s=result.ttft_s,
        latency_s=result.latency_s,
        energy_j=result.energy_j,
        output_tokens=result.output_tokens,
    )


def stream_message(item: TokenOut | RunResult) -> agent_pb2.RunStreamMessage:
    if isinstance(item, TokenOut):
        return agent_pb2.RunStreamMessage(
            token=agent_pb2.Token(index=item.index, time_s=item.time_s)
        )
    return agent_pb2.RunStreamMessage(summary=run_reply(item))


def node_info(node: NodeSnapshot, agent: str, tier: Tier, state: str = "up") -> common_pb2.NodeInfo:
    return common_pb2.NodeInfo(
        id=node.id,
        agent=agent,
        tier=TIER_VALUES[tier],
        hardware=node.hardware,
        state=state,
        queue_depth=node.queue_depth,
        queue_capacity=node.queue_capacity,
        max_batch=node.max_batch,
        in_flight=node.in_flight,
        models=[
            common_pb2.ModelInfo(id=m.id, precision=m.precision, resident=m.resident)
            for m in node.models
        ],
        power_w=node.power_w,
        energy_j=node.energy_j,
        utilisation=node.utilisation,
    )
