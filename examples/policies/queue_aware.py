"""A worked plug-in policy: the fewest joules, but never onto a crowded node.

Run it without installing anything, by its path (its folder on the Python path):

    PYTHONPATH=examples/policies edgetier sim run scenarios/tiny.yaml \\
        --policies device-first,queue_aware:QueueAwareEnergy \\
        --policy-option queue_aware:QueueAwareEnergy.max_occupancy=0.25
    PYTHONPATH=examples/policies edgetier up --policy queue_aware:QueueAwareEnergy

The rule: among the tiers that can run the request now, the ones whose chosen node is at most
`max_occupancy` full (in-flight requests over queue plus batch slots) and predicted to meet the
SLO come first, cheapest in predicted joules first; crowded or too-slow tiers follow, fastest
first, so a request is still served when nothing is both idle and fast; tiers that cannot run
it at all close the plan with their reasons. ARCHITECTURE.md walks through it.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView, Estimate, NodeState
from routing.placement import split_steps
from routing.policy import Plan, Policy, Step
from routing.request import Request


class QueueAwareEnergy(Policy):
    """Energy first, among nodes that are not crowded and meet the SLO."""

    def __init__(self, seed: int = 0, max_occupancy: float = 0.5) -> None:
        if not 0 <= max_occupancy <= 1:
            raise ValueError(f"max_occupancy: a share between 0 and 1, got {max_occupancy}")
        self.rng = random.Random(seed)
        self.max_occupancy = max_occupancy

    def decide(self, request: Request, view: ClusterView) -> Plan:
        runnable, skipped = split_steps(view, request, self.rng)
        scored = [(step, node, view.estimate(node, request)) for step, node in runnable]
        preferred = [item for item in scored if self._good(item[1], item[2], request)]
        rest = [item for item in scored if not self._good(item[1], item[2], request)]
        preferred.sort(key=lambda item: item[2].energy_j)
        rest.sort(key=lambda item: item[2].latency_s)
        return (*_steps(preferred), *_steps(rest), *skipped)

    def _good(self, node: NodeState, estimate: Estimate, request: Request) -> bool:
        occupancy = node.in_flight / (node.queue_capacity + node.max_batch)
        fast = request.slo_s is None or estimate.latency_s <= request.slo_s
        return occupancy <= self.max_occupancy and fast


def _steps(items: list[tuple[Step, NodeState, Estimate]]) -> list[Step]:
    return [step for step, _, _ in items]
