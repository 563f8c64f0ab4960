"""Energy placement: where an answer by a given model adds the fewest joules, given the load.

energy-marginal's ranking (`ClusterView.marginal_joules`: joining a GPU's running decode batch
costs each step's growth, an idle GPU whole steps, a phone or an edge box its own run, the
network its bytes), as one function: energy-marginal is this placement of the requested model,
and the policies that first choose which model answers (learned-router and its baselines) put
it underneath their choice, so a model choice is always priced where it would actually run.

One step per tier in use (`split_steps`): those predicted to meet the request's SLO
(`estimate`, queueing included; all of them without an SLO), fewest added joules first; those
predicted to miss it, fastest first, so a request is still served when nothing meets its SLO;
the passed-over tiers with their reasons.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from routing.cluster import ClusterView
from routing.placement import split_steps
from routing.policy import Plan, Step
from routing.request import Request


@dataclass(frozen=True, slots=True)
class Placement:
    """The steps of one model's answer to a request, ranked."""

    meeting: list[tuple[float, Step]]  # (added joules, step), cheapest first
    missing: list[tuple[float, Step]]  # (predicted latency, step), fastest first
    skipped: list[Step]

    @property
    def plan(self) -> Plan:
        return (
            *(step for _, step in self.meeting),
            *(step for _, step in self.missing),
            *self.skipped,
        )


def place(
    view: ClusterView, request: Request, rng: random.Random, model: str | None = None
) -> Placement:
    """Rank the tiers for `request` answered by `model` (default: the requested one)."""
    model = model or request.model
    runnable, skipped = split_steps(view, request, rng, model)
    slo = request.slo_s
    meeting, missing = [], []
    for step, node in runnable:
        latency = view.estimate(node, request, model).latency_s
        if slo is None or latency <= slo:
            meeting.append((view.marginal_joules(node, request, model), step))
        else:
            missing.append((latency, step))
    meeting.sort(key=lambda pair: pair[0])
    missing.sort(key=lambda pair: pair[0])
    return Placement(meeting, missing, skipped)
