"""cloud-only and edge-only: every request to one tier (the baselines offloading is judged by)."""

from __future__ import annotations

import random

from npu_sim.hardware import Tier
from routing.cluster import ClusterView
from routing.placement import tier_step
from routing.policy import Plan, Policy
from routing.request import Request


class SingleTier(Policy):
    tier: Tier

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        return (tier_step(view, request, self.tier, request.model, self.rng),)


class CloudOnly(SingleTier):
    name = "cloud-only"
    tier = "cloud"


class EdgeOnly(SingleTier):
    name = "edge-only"
    tier = "edge"
