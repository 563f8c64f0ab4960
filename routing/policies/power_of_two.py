"""power-of-two-choices: load balancing across every node that serves the model, any tier.

Two nodes are sampled uniformly from all up nodes serving the model (without building their
union: an index is drawn over the per-tier sets); the less loaded is tried first, the other
next, then the remaining tiers nearest first. Mitzenmacher (2001): two choices cut the maximum
load from log n / log log n to log log n.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView, NodeState
from routing.placement import tier_step, tiers_in_use
from routing.policy import Plan, Policy, Step
from routing.request import Request


class PowerOfTwo(Policy):
    name = "power-of-two-choices"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        tiers = tiers_in_use(view)
        pools = [view.serving(tier, request.model) for tier in tiers]
        total = sum(len(pool) for pool in pools)
        if total == 0:
            return tuple(tier_step(view, request, tier, request.model, self.rng) for tier in tiers)
        picks = [self._nth(pools, i) for i in self.rng.sample(range(total), min(2, total))]
        picks.sort(key=lambda node: node.load)
        steps = [Step(node.tier, request.model, node=node.id) for node in picks if not node.full]
        taken = {step.tier for step in steps}
        steps += [
            tier_step(view, request, tier, request.model, self.rng)
            for tier in tiers
            if tier not in taken
        ]
        return tuple(steps)

    @staticmethod
    def _nth(pools: list, index: int) -> NodeState:
        for pool in pools:
            if index < len(pool):
                return pool[index]
            index -= len(pool)
        raise IndexError(index)
