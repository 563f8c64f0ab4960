"""Agents and liveness: who registered, how to reach them, which of their nodes are up.

Registration and heartbeats keep the `Cluster` current: a node is marked down when its agent
misses heartbeats for `timeout_s` (or a call to it fails to connect), and up again when a
heartbeat arrives. An agent the registry does not know (e.g. after an orchestrator restart) is
told so in the heartbeat reply and registers again by itself.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from edgetier.v1 import agent_pb2_grpc, common_pb2
from edgetier.wire.tiers import TIER_NAMES
from edgetier.wire.tls import TlsConfig, aio_channel
from npu_sim.catalog import UnknownNameError
from npu_sim.engine import DEFAULT_MAX_BATCH
from npu_sim.hardware import Hardware
from orchestrator.metrics import OrchestratorMetrics
from routing.cluster import Cluster, NodeState

log = logging.getLogger(__name__)


class RegistrationError(ValueError):
    """A registration that names an unknown tier, hardware, model or precision."""


@dataclass
class Agent:
    name: str
    address: str
    metrics_url: str
    channel: grpc.aio.Channel
    stub: agent_pb2_grpc.DeviceAgentStub
    node_ids: list[str]
    last_seen: float
    up: bool = True


@dataclass
class Registry:
    """The agents known to this orchestrator and the liveness of their nodes."""

    cluster: Cluster
    metrics: OrchestratorMetrics
    clock: Callable[[], float]
    timeout_s: float
    sd_dir: Path | None = None  # Prometheus file_sd target files are written here
    orchestrator_metrics: str = ""  # host:port of the orchestrator's own /metrics
    tls: TlsConfig | None = None  # for the channels to agents
    agents: dict[str, Agent] = field(default_factory=dict)
    _node_agent: dict[str, Agent] = field(default_factory=dict)

    async def register(self, name: str, address: str, metrics_url: str, nodes: list) -> None:
        """Add or replace an agent and its nodes (raises RegistrationError naming the field)."""
        states = [self._node_state(name, info) for info in nodes]
        old = self.agents.pop(name, None)
        if old is not None:
            for node_id in old.node_ids:
                self.cluster.remove(node_id)
                self._node_agent.pop(node_id, None)
            if old.address != address:
                await old.channel.close()
        reuse = old is not None and old.address == address
        channel = old.channel if old is not None and reuse else _channel(address, self.tls)
        agent = Agent(
            name,
            address,
            metrics_url,
            channel,
            agent_pb2_grpc.DeviceAgentStub(channel),
            [s.id for s in states],
            self.clock(),
        )
        self.agents[name] = agent
        for state in states:
            self.cluster.upsert(state)
            self._node_agent[state.id] = agent
            self.metrics.node_up.labels(state.tier, state.id).set(1)
        log.info("agent %s registered at %s with %d nodes", name, address, len(states))
        self.write_targets()

    def heartbeat(self, name: str, nodes: list) -> bool:
        """Refresh an agent's liveness and telemetry; False if the agent is unknown. A heartbeat
        whose nodes all say "down" is an agent shutting down: its nodes go down at once."""
        agent = self.agents.get(name)
        if agent is None:
            return False
        if nodes and all(info.state == "down" for info in nodes):
            if agent.up:
                log.info("agent %s is shutting down: its nodes are down", name)
                self._set_agent_up(agent, False)
            return True
        agent.last_seen = self.clock()
        for info in nodes:
            node = self.cluster.node(info.id)
            if node is None or self._node_agent.get(info.id) is not agent:
                continue
            node.queue_depth = info.queue_depth
            node.in_flight = info.in_flight
            node.power_w = info.power_w
            node.energy_j = info.energy_j
            node.resident = tuple(m.id for m in info.models if m.resident)
        if not agent.up:
            self._set_agent_up(agent, True)
        return True

    def sweep(self) -> None:
        """Mark down every agent whose heartbeats stopped `timeout_s` ago."""
        now = self.clock()
        for agent in self.agents.values():
            if agent.up and now - agent.last_seen > self.timeout_s:
                log.warning(
                    "agent %s missed heartbeats for %.1fs: its nodes are down",
                    agent.name,
                    now - agent.last_seen,
                )
                self._set_agent_up(agent, False)

    def connection_failed(self, node_id: str) -> None:
        """A call to the node's agent could not connect: mark the agent down at once (the next
        heartbeat brings it back)."""
        agent = self._node_agent.get(node_id)
        if agent is not None and agent.up:
            log.warning("agent %s is unreachable: its nodes are down", agent.name)
            self._set_agent_up(agent, False)

    def agent_of(self, node_id: str) -> Agent | None:
        return self._node_agent.get(node_id)

    async def close(self) -> None:
        for agent in self.agents.values():
            await agent.channel.close()

    def _set_agent_up(self, agent: Agent, up: bool) -> None:
        agent.up = up
        for node_id in agent.node_ids:
            node = self.cluster.node(node_id)
            if node is not None:
                self.cluster.set_up(node_id, up)
                self.metrics.node_up.labels(node.tier, node_id).set(1 if up else 0)
        self.write_targets()

    def _node_state(self, agent: str, info: common_pb2.NodeInfo) -> NodeState:
        catalog = self.cluster.predictor.catalog
        tier = TIER_NAMES.get(info.tier)
        if tier is None:
            raise RegistrationError(f"nodes[{info.id}].tier: must be device, edge or cloud")
        if not info.id:
            raise RegistrationError("nodes.id: required")
        try:
            hardware = catalog.hardware(info.hardware)
            models = {m.id: catalog.precision(m.precision).name for m in info.models}
            for model in models:
                catalog.model(model)
        except UnknownNameError as exc:
            raise RegistrationError(f"nodes[{info.id}]: {exc}") from None
        owner = self._node_agent.get(info.id)
        if owner is not None and owner.name != agent:
            raise RegistrationError(
                f"nodes[{info.id}].id: already registered by agent {owner.name}"
            )
        return NodeState(
            id=info.id,
            agent=agent,
            tier=tier,
            hardware=hardware,
            models=models,
            queue_capacity=max(1, info.queue_capacity),
            max_batch=_max_batch(hardware, info.max_batch),
            queue_depth=info.queue_depth,
            in_flight=info.in_flight,
            power_w=info.power_w,
            energy_j=info.energy_j,
            resident=tuple(m.id for m in info.models if m.resident),
        )

    def write_targets(self) -> None:
        """Write Prometheus file_sd target files: every live agent's /metrics (labels tier and
        agent) and the orchestrator's own. Atomic rename, so Prometheus never reads half."""
        if self.sd_dir is None:
            return
        agents = []
        for agent in self.agents.values():
            if not agent.up or not agent.metrics_url:
                continue
            node = self.cluster.node(agent.node_ids[0]) if agent.node_ids else None
            target = agent.metrics_url.split("://", 1)[-1].split("/", 1)[0]
            labels = {"agent": agent.name, "tier": node.tier if node else "unknown"}
            agents.append({"targets": [target], "labels": labels})
        _write_json(self.sd_dir / "agents.json", agents)
        if self.orchestrator_metrics:
            _write_json(
                self.sd_dir / "orchestrator.json",
                [{"targets": [self.orchestrator_metrics], "labels": {}}],
            )


def _max_batch(hardware: Hardware, reported: int) -> int:
    if not hardware.batching:
        return 1
    return reported or DEFAULT_MAX_BATCH


def _channel(address: str, tls: TlsConfig | None) -> grpc.aio.Channel:
    return aio_channel(address, tls, options=[("grpc.enable_retries", 0)])


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)
