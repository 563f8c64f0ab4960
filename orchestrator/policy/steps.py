"""Building blocks the policies share: choosing a node on a tier, and SLO checks."""

from __future__ import annotations

import random

from orchestrator.cluster import ClusterView, NodeState, Request, least_loaded_of_two
from orchestrator.network import TIERS, Tier
from orchestrator.policy.base import Plan, Step


def tier_step(
    view: ClusterView, request: Request, tier: Tier, model: str, rng: random.Random
) -> Step:
    """The node to try on `tier` for `model`, or why there is none.

    On the device tier a request with an origin can only run on its own device; without one,
    any device serving the model will do. Elsewhere: the less loaded of two sampled nodes.
    """
    if tier == "device" and request.origin is not None:
        origin = view.node(request.origin)
        if origin is None or model not in origin.models:
            return _none(view, tier, model)
        if not origin.up:
            return Step(tier, model, skip="unavailable")
        return _checked(tier, model, origin)
    node = least_loaded_of_two(view.serving(tier, model), rng)
    return _none(view, tier, model) if node is None else _checked(tier, model, node)


def _none(view: ClusterView, tier: Tier, model: str) -> Step:
    reason = "not_served" if view.could_fit(tier, model) else "does_not_fit"
    return Step(tier, model, skip=reason)


def _checked(tier: Tier, model: str, node: NodeState) -> Step:
    if node.full:
        return Step(tier, model, node=node.id, skip="queue_full")
    return Step(tier, model, node=node.id)


def tiers_in_use(view: ClusterView) -> list[Tier]:
    """Tiers the cluster has nodes on, nearest first."""
    return [tier for tier in TIERS if view.has_tier(tier)]


def escalating(
    view: ClusterView, request: Request, rng: random.Random, model: str | None = None
) -> Plan:
    """Nearest tier first, escalating outwards; a tier predicted to miss the SLO is passed over
    (`slo_miss`) unless no later tier can take the request."""
    model = model or request.model
    steps = [tier_step(view, request, tier, model, rng) for tier in tiers_in_use(view)]
    if request.slo_s is None:
        return tuple(steps)
    runnable = [i for i, step in enumerate(steps) if step.skip is None]
    for i in runnable[:-1]:
        step = steps[i]
        node = view.node(step.node)  # type: ignore[arg-type]
        if node is not None and view.estimate(node, request, model).latency_s > request.slo_s:
            steps[i] = Step(step.tier, model, node=step.node, skip="slo_miss")
    return tuple(steps)


def runnable_steps(
    view: ClusterView, request: Request, rng: random.Random
) -> list[tuple[Step, NodeState]]:
    """One runnable step per tier with the node it names (skipped tiers left out)."""
    found = []
    for tier in tiers_in_use(view):
        step = tier_step(view, request, tier, request.model, rng)
        node = view.node(step.node) if step.node is not None and step.skip is None else None
        if node is not None:
            found.append((step, node))
    return found
