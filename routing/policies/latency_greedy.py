"""latency-greedy: the tier with the least predicted end-to-end latency first.

The prediction (npu_sim service time, the wait behind the node's in-flight work, the network
both ways) comes from `ClusterView.estimate`; the other tiers follow in order of latency.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView
from routing.placement import split_steps
from routing.policy import Plan, Policy
from routing.request import Request


class LatencyGreedy(Policy):
    name = "latency-greedy"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        runnable, skipped = split_steps(view, request, self.rng)
        runnable.sort(key=lambda pair: view.estimate(pair[1], request).latency_s)
        return (*(step for step, _ in runnable), *skipped)
