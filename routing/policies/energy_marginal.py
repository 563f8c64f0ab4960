"""energy-marginal: each request where it adds the fewest joules, given what is running now.

Where energy-aware ranks tiers by what a request costs run alone, this ranks them by what it
adds (`ClusterView.marginal_joules`): joining a GPU's running decode batch costs only the growth
of each step, waking an idle GPU costs whole steps, a phone or an edge box costs its own run,
the network its bytes. A GPU that is busy anyway is then the cheap place for work that would
otherwise keep a phone's NPU at full power for seconds, and an idle one the expensive place.

On a tier whose nodes batch (GPUs), the node is chosen the same way rather than sampled: of the
nodes serving the model with room, the one the request adds the fewest joules to among those
predicted to meet its SLO, which is the busiest one with a batch to join. Spreading requests
over idle GPUs, as load balancing does, makes each decode its own whole steps; packing them
where a batch already runs shares the steps (the bound, fleetsim.bound, shows how much that is
worth). A tier's few GPUs are read, never the phones.

Among the tiers predicted to meet the request's SLO (`estimate`, queueing included), the fewest
added joules first; tiers predicted to miss it follow, fastest first, so a request is still
served when nothing meets its SLO; passed-over tiers close the plan with their reasons. Each
decision reads the view as it is (a few memoised costs per tier), no cluster copy.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView, NodeState
from routing.placement import split_steps
from routing.policy import Plan, Policy, Step
from routing.request import Request


class EnergyMarginal(Policy):
    name = "energy-marginal"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        runnable, skipped = split_steps(view, request, self.rng)
        slo = request.slo_s
        meeting, missing = [], []
        for sampled, choice in runnable:
            step, node = sampled, choice
            if node.max_batch > 1:
                step, node = self._join(view, request, sampled, choice)
            latency = view.estimate(node, request).latency_s
            if slo is None or latency <= slo:
                joules = view.marginal_joules(node, request)
                meeting.append((joules, 0, step))
                if step is not sampled:  # if the packed node fills up meanwhile: the sampled one
                    meeting.append((joules, 1, sampled))
            else:
                missing.append((latency, 0, step))
        meeting.sort(key=lambda entry: entry[:2])
        missing.sort(key=lambda entry: entry[:2])
        return (*(step for *_, step in meeting), *(step for *_, step in missing), *skipped)

    @staticmethod
    def _join(
        view: ClusterView, request: Request, step: Step, sampled: NodeState
    ) -> tuple[Step, NodeState]:
        """The node of the step's tier that `request` adds the fewest joules to among those
        with room predicted to meet its SLO (ties: the first listed); the sampled one if none
        is predicted to."""
        slo = request.slo_s
        best: tuple[float, NodeState] | None = None
        for node in view.serving(step.tier, request.model):
            if node.in_flight >= node.queue_capacity + node.max_batch:
                continue  # full: it would refuse
            if slo is not None and view.estimate(node, request).latency_s > slo:
                continue
            joules = view.marginal_joules(node, request)
            if best is None or joules < best[0]:
                best = (joules, node)
        if best is None or best[1] is sampled:
            return step, sampled
        return Step(step.tier, step.model, node=best[1].id), best[1]
