"""energy-marginal: each request where it adds the fewest joules, given what is running now.

Where energy-aware ranks tiers by what a request costs run alone, this ranks them by what it
adds (`ClusterView.marginal_joules`): joining a GPU's running decode batch costs only the growth
of each step, waking an idle GPU costs whole steps, a phone or an edge box costs its own run,
the network its bytes. A GPU that is busy anyway is then the cheap place for work that would
otherwise keep a phone's NPU at full power for seconds, and an idle one the expensive place.

Among the tiers predicted to meet the request's SLO (`estimate`, queueing included), the fewest
added joules first; tiers predicted to miss it follow, fastest first, so a request is still
served when nothing meets its SLO; passed-over tiers close the plan with their reasons
(`routing.energy_placement`, which the policies choosing a model first use underneath). Each
decision reads the view as it is (a few memoised costs per tier), no cluster copy.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView
from routing.energy_placement import place
from routing.policy import Plan, Policy
from routing.request import Request


class EnergyMarginal(Policy):
    name = "energy-marginal"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        return place(view, request, self.rng).plan
