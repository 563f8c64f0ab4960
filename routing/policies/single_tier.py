"""The shape of a single-tier policy: every request to the one tier in `tiers`."""

from __future__ import annotations

import random

from routing.cluster import ClusterView
from routing.placement import tier_step
from routing.policy import Plan, Policy
from routing.request import Request


class SingleTier(Policy):
    """Subclasses set `tiers = (TIER,)`."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        assert self.tiers is not None and len(self.tiers) == 1
        return (tier_step(view, request, self.tiers[0], request.model, self.rng),)
