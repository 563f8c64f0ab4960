"""The simulated fleet: one `NodeEngine` per node and the `Cluster` policies read, built from a
scenario's topology exactly as the live agents and the orchestrator's registry build theirs.

A live agent makes `NodeSpec(id, hardware, models, queue_capacity, max_batch)` per node (ids
`<agent>-<i>`, models preloaded as they fit) and the registry turns its registration into a
`NodeState` whose `max_batch` is the engine's (1 where the chip does not batch). The same here,
so a policy sees the same cluster in both modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetsim.scenario import Scenario
from npu_sim.engine import NodeEngine, NodeSpec
from npu_sim.predictor import Predictor
from routing.cluster import Cluster, NodeState

if TYPE_CHECKING:
    from fleetsim.simulator import Flight


@dataclass(eq=False, slots=True)
class SimNode:
    """A node as the simulator drives it: its engine, the state policies see (kept current
    on every submission and completion, never rebuilt), the requests it holds, and the time of
    its pending engine event (inf when idle)."""

    spec: NodeSpec
    group: str
    engine: NodeEngine
    state: NodeState
    jobs: dict[str, Flight] = field(default_factory=dict)
    scheduled: float = math.inf
    outages: int = 0  # outages in force (they may overlap)

    def sync(self) -> None:
        """Copy the engine's load into the policy-visible state (what a heartbeat carries)."""
        self.state.in_flight = self.engine.in_flight
        self.state.queue_depth = self.engine.queue_depth


def build_fleet(scenario: Scenario, predictor: Predictor, cluster: Cluster) -> dict[str, SimNode]:
    """Every node of the scenario, registered in `cluster` (ids `<group>-<i>`, group order)."""
    nodes: dict[str, SimNode] = {}
    hardware = predictor.catalog.hardware
    for name, group in scenario.topology.items():
        models = dict(group.models)  # one read-only dict per group: less memory per node
        for node_id in group.node_ids(name):
            spec = NodeSpec(
                node_id,
                group.hardware,
                models,
                queue_capacity=group.queue_capacity,
                max_batch=group.max_batch,
            )
            engine = NodeEngine(spec, predictor)
            state = NodeState(
                id=node_id,
                agent=name,
                tier=group.tier,
                hardware=hardware(group.hardware),
                models=models,
                queue_capacity=group.queue_capacity,
                max_batch=engine.max_batch,
                resident=tuple(engine.resident_models),
            )
            cluster.upsert(state)
            nodes[node_id] = SimNode(spec, name, engine, state)
    return nodes


def affected(scenario: Scenario, tier: str | None, group: str | None) -> list[str]:
    """Groups an event names: one group, or every group on a tier."""
    return [
        name
        for name, spec in scenario.topology.items()
        if name == group or (tier is not None and spec.tier == tier)
    ]
