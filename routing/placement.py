"""Building blocks the policies share: choosing a node on a tier, and SLO checks."""

from __future__ import annotations

import random
from collections.abc import Sequence

from npu_sim.hardware import TIERS, Tier
from routing.cluster import ClusterView, NodeState
from routing.policy import Plan, Step
from routing.request import Request


def tier_step(
    view: ClusterView, request: Request, tier: Tier, model: str, rng: random.Random
) -> Step:
    """The node to try on `tier` for `model`, or why there is none.

    On the device tier a request with an origin can only run on its own device; without one,
    any device serving the model will do. Elsewhere: the less loaded of two sampled nodes.
    """
    return tier_choice(view, request, tier, model, rng)[0]


def tier_choice(
    view: ClusterView, request: Request, tier: Tier, model: str, rng: random.Random
) -> tuple[Step, NodeState | None]:
    """`tier_step` and the node it chose (None if none), so that callers estimating the step
    need not look the node up again (fleetsim makes millions of decisions)."""
    if tier == "device" and request.origin is not None:
        node = view.node(request.origin)
        if node is None or model not in node.models:
            return _none(view, tier, model), None
        if not node.up:
            return Step(tier, model, None, "unavailable"), None
    else:
        node = least_loaded_of_two(view.serving(tier, model), rng)
        if node is None:
            return _none(view, tier, model), None
    # Steps are built with positional arguments: keywords through a class call cost a dict.
    if node.in_flight >= node.queue_capacity + node.max_batch:  # node.full, inlined
        return Step(tier, model, node.id, "queue_full"), node
    return Step(tier, model, node.id), node


def _none(view: ClusterView, tier: Tier, model: str) -> Step:
    reason = "not_served" if view.could_fit(tier, model) else "does_not_fit"
    return Step(tier, model, None, reason)


def tiers_in_use(view: ClusterView) -> list[Tier]:
    """Tiers the cluster has nodes on, nearest first."""
    return [tier for tier in TIERS if view.has_tier(tier)]


def escalating(
    view: ClusterView, request: Request, rng: random.Random, model: str | None = None
) -> Plan:
    """Nearest tier first, escalating outwards; a tier predicted to miss the SLO is passed over
    (`slo_miss`) unless no later tier can take the request."""
    model = model or request.model
    slo = request.slo_s
    steps: list[Step] = []
    # The latest runnable step (its index and node): checked against the SLO once a later
    # tier can take the request. Estimates read the view only, so checking in the loop gives
    # the plan a second pass would, in one.
    held: tuple[int, NodeState] | None = None
    for tier in TIERS:
        if not view.has_tier(tier):  # tiers_in_use, inlined: this runs for every decision
            continue
        step, node = tier_choice(view, request, tier, model, rng)
        if node is not None and step.skip is None and slo is not None:
            if held is not None:
                i, ahead = held
                if view.estimate(ahead, request, model).latency_s > slo:
                    steps[i] = Step(steps[i].tier, model, steps[i].node, "slo_miss")
            held = (len(steps), node)
        steps.append(step)
    return tuple(steps)


def split_steps(
    view: ClusterView, request: Request, rng: random.Random, model: str | None = None
) -> tuple[list[tuple[Step, NodeState]], list[Step]]:
    """One step per tier in use: the runnable ones with the node each names, and the passed-over
    ones (which a plan still lists, so that it says why each tier was not tried). `model`
    answers the request (default: the requested one)."""
    runnable: list[tuple[Step, NodeState]] = []
    skipped: list[Step] = []
    model = model or request.model
    for tier in tiers_in_use(view):
        step, node = tier_choice(view, request, tier, model, rng)
        if node is not None and step.skip is None:
            runnable.append((step, node))
        else:
            skipped.append(step)
    return runnable, skipped


def least_loaded_of_two(nodes: Sequence[NodeState], rng: random.Random) -> NodeState | None:
    """Power of two choices: sample two nodes, keep the less loaded (ties: the first)."""
    if not nodes:
        return None
    if len(nodes) == 1:
        return nodes[0]
    first, second = two_of(rng, len(nodes))
    a, b = nodes[first], nodes[second]
    # NodeState.load of both, inlined: this runs for most routing decisions.
    if (b.in_flight + 1) * b.slowdown / (b.queue_capacity + b.max_batch) < (
        a.in_flight + 1
    ) * a.slowdown / (a.queue_capacity + a.max_batch):
        return b
    return a


def two_of(rng: random.Random, n: int) -> tuple[int, int]:
    """Two distinct indices below `n` (>= 2): exactly what `rng.sample(range(n), 2)` returns,
    from the same random draws (CPython's two branches: a pool for small n, rejection above),
    without sample()'s generic checks, which cost more than the draws on this path (every
    routing decision; fleetsim makes millions)."""
    bits = rng.getrandbits
    k = n.bit_length()  # Random._randbelow_with_getrandbits, inlined
    first = bits(k)
    while first >= n:
        first = bits(k)
    if n <= 21:
        m = n - 1
        k = m.bit_length()
        second = bits(k)
        while second >= m:
            second = bits(k)
        return first, (m if second == first else second)
    second = first
    while second == first:
        second = bits(k)
        while second >= n:
            second = bits(k)
    return first, second
