"""Energy placement: where an answer by a given model adds the fewest joules, given the load.

energy-marginal's ranking (`ClusterView.marginal_joules`: joining a GPU's running decode batch
costs each step's growth, an idle GPU whole steps, a phone or an edge box its own run, the
network its bytes), as one function: energy-marginal is this placement of the requested model,
and the policies that first choose which model answers (learned-router and its baselines) put
it underneath their choice, so a model choice is always priced where it would actually run.

On a tier whose nodes batch (GPUs) the node is chosen, not sampled: of the nodes serving the
model with room, the one the answer adds the fewest joules to among those predicted to meet the
SLO, which is the busiest one with a batch to join (the sampled node follows it, in case the
chosen one fills up meanwhile). Spreading requests over idle GPUs, as load balancing does,
makes each decode its own whole steps; packing them where a batch already runs shares the steps:
the energy bound (fleetsim.bound) showed this is where the policies' energy went. A tier's few
GPUs are read, never the phones.

One step per tier in use (`split_steps`): those predicted to meet the request's SLO
(`estimate`, queueing included; all of them without an SLO), fewest added joules first; those
predicted to miss it, fastest first, so a request is still served when nothing meets its SLO;
the passed-over tiers with their reasons.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from routing.cluster import ClusterView, NodeState
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
    for sampled, choice in runnable:
        step, node = sampled, choice
        if node.max_batch > 1:
            step, node = _join(view, request, model, sampled, choice)
        latency = view.estimate(node, request, model).latency_s
        if slo is None or latency <= slo:
            joules = view.marginal_joules(node, request, model)
            meeting.append((joules, step))
            if step is not sampled:  # right after it (the sort is stable)
                meeting.append((joules, sampled))
        else:
            missing.append((latency, step))
    meeting.sort(key=lambda pair: pair[0])
    missing.sort(key=lambda pair: pair[0])
    return Placement(meeting, missing, skipped)


def _join(
    view: ClusterView, request: Request, model: str, step: Step, sampled: NodeState
) -> tuple[Step, NodeState]:
    """The node of the step's tier that the answer adds the fewest joules to among those with
    room predicted to meet the SLO (ties: the first listed); the sampled one if none is."""
    slo = request.slo_s
    best: tuple[float, NodeState] | None = None
    for node in view.serving(step.tier, model):
        if node.in_flight >= node.queue_capacity + node.max_batch:
            continue  # full: it would refuse
        if slo is not None and view.estimate(node, request, model).latency_s > slo:
            continue
        joules = view.marginal_joules(node, request, model)
        if best is None or joules < best[0]:
            best = (joules, node)
    if best is None or best[1] is sampled:
        return step, sampled
    return Step(step.tier, model, node=best[1].id), best[1]
