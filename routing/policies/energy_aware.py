"""energy-aware: the fewest joules that still meet the SLO.

Tiers predicted to meet the SLO (all of them, when the request has none) come first, cheapest
in energy (compute plus network) first; tiers predicted to miss it follow, fastest first, so a
request is still served when nothing can meet its SLO.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView
from routing.placement import split_steps
from routing.policy import Plan, Policy
from routing.request import Request


class EnergyAware(Policy):
    name = "energy-aware"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        runnable, skipped = split_steps(view, request, self.rng)
        scored = [(step, view.estimate(node, request)) for step, node in runnable]
        slo = request.slo_s

        def key(pair: tuple) -> tuple[bool, float]:
            estimate = pair[1]
            misses = slo is not None and estimate.latency_s > slo
            return (misses, estimate.latency_s if misses else estimate.energy_j)

        scored.sort(key=key)
        return (*(step for step, _ in scored), *skipped)
