"""The oracle: an offline lower bound on energy per request at a given SLO attainment.

No policy can do better than this, because it solves a relaxed problem exactly:

1. No contention. Every request runs alone on an idle node of each tier that could serve it,
   its model resident: no queueing, no batch neighbours, no model loads. It knows the whole
   trace in advance (which requests come, when, and how long their answers are).
2. Per request and tier (node group), from the same models as the simulation:
   - the fastest it can be done: network both ways (`NetworkModel.transfer`) plus its
     service alone (`Costs.serve`); waiting and batching only add to it;
   - the least energy it can cost there: on a chip that does not batch, `Costs.serve`, which
     is exactly what the node engine charges a request alone; on one that batches, its own
     prefill plus each decode step's share in the best case: the batch size b <= max_batch
     minimising step energy / b, with its neighbours holding the fewest possible tokens (each
     step's energy grows with the tokens in the batch). Plus the network's joules.
   A tier counts only if a node there serves the model, the request fits it (the engine's
   own `check`) and it is up when the request arrives (plans are decided on arrival, so no
   router here can use a tier that is down then). An answer by another model that a policy
   of the run declares final (`Policy.substitutes`: a cascade's confident small-model answer)
   is an option too (its confidence is known in advance).
3. e_min = the cheapest option, e_meet = the cheapest one fast enough for the request's SLO
   (e_min when it has none). To meet k SLOs, the cheapest plan meets the k requests with the
   smallest extra cost e_meet - e_min and serves the rest at e_min. The relaxed problem is
   separable per request, so this greedy choice is its exact optimum E*(k), and since any
   real run is a feasible point of the relaxation, E*(k) is at most the energy of any run
   that serves every servable request and meets k SLOs.

Batching makes this bound loose on purpose: a clairvoyant scheduler could hold requests back to
fill every decode batch, so the bound must allow it. `Oracle(batching=False)` gives the other
reference point, the "oracle-unbatched" row: the same construction with every request charged
what it costs alone (`Costs.serve`), as the issue first suggested. It is the best any routing
can do when nothing shares a batch; it is not a bound where batching happens (a busy GPU's
shared decode steps cost each request less than running alone), and a policy below it is
saving energy by batching.

Requests no tier can serve are dropped by everyone, at no cost. A policy may also drop
servable requests (every queue on its path full, or a single-tier policy whose tier cannot run
the model) and spend nothing on them; to stay a bound for it, the oracle may drop as many:
E*(k, d) lets d requests go unserved. Then the cheapest plan is no longer separable, so the
bound relaxes once more and allows the dropped and the SLO-meeting sets to overlap:
E*(k, d) >= sum(e_min) - (the d largest e_min) + (the k smallest extra costs), which is what
`joules_at(k, d)` returns (exact when d = 0).

E*(k) grows with k. A policy is compared with the oracle at its own attainment and drops
(`joules_at(met, dropped)`, the summary's joules_vs_oracle); the summary's oracle row is the
plan meeting the best policy's number of SLOs and dropping nothing it can serve, with the
latencies and tiers of that plan.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np

from fleetsim.fleet import affected
from fleetsim.scenario import Scenario
from fleetsim.summary import PolicyStats
from fleetsim.workload import Arrival
from npu_sim.engine import Job, NodeEngine, NodeSpec
from npu_sim.hardware import TIERS
from npu_sim.models import LLM
from npu_sim.perf import Costs
from npu_sim.predictor import Predictor
from routing.policy import Policy
from routing.request import Request

DROPPED_TIER = len(TIERS)


@dataclass(frozen=True, slots=True)
class Option:
    """Serving a request on one node group, alone: lower bounds of its energy and latency."""

    tier: int  # index in TIERS
    energy_j: float
    latency_s: float
    ttft_s: float


def least_energy(costs: Costs, prompt: int, output: int, max_batch: int) -> float:
    """The fewest joules a node engine can charge this request (network excluded)."""
    if not isinstance(costs.model, LLM) or max_batch == 1:
        return costs.serve(prompt, output).energy_j
    prefill = costs.prefill(prompt).joules
    if output == 1:
        return prefill
    # Each of the output - 1 decode steps: its share of a batch of b, whose other b - 1
    # members hold at least 2 tokens each (a prompt token and a first output token).
    share = min(
        costs.decode_step(b, prompt + 1 + 2 * (b - 1)).joules / b for b in range(1, max_batch + 1)
    )
    return prefill + (output - 1) * share


class Oracle:
    """Collects every request's options (`add`), then answers E*(k) for any k."""

    def __init__(
        self,
        scenario: Scenario,
        predictor: Predictor,
        policies: list[Policy],
        batching: bool = True,
    ) -> None:
        self.scenario = scenario
        self.batching = batching
        self.name = "oracle" if batching else "oracle-unbatched"
        self.catalog = predictor.catalog
        self.network = scenario.network_model()
        self.groups: dict[str, tuple[int, NodeEngine]] = {}
        self.by_tier: dict[str, list[str]] = {tier: [] for tier in TIERS}
        self.group_of: dict[str, str] = {}
        for name, group in scenario.topology.items():
            spec = NodeSpec(name, group.hardware, dict(group.models), max_batch=group.max_batch)
            self.groups[name] = (TIERS.index(group.tier), NodeEngine(spec, predictor))
            self.by_tier[group.tier].append(name)
            for node in group.node_ids(name):
                self.group_of[node] = name
        self.down: dict[str, list[tuple[float, float]]] = {name: [] for name in self.groups}
        for event in scenario.events:
            for name in affected(scenario, event.tier, event.group):
                self.down[name].append((event.start_s, event.end_s))
        self.policies = policies
        self._options: dict[tuple[str, str, int, int], Option | None] = {}
        self.arrival = array("d")
        self.e_min, self.extra = array("d"), array("d")
        self.lat_min, self.lat_meet = array("d"), array("d")
        self.ttft_min, self.ttft_meet = array("d"), array("d")
        self.tier_min, self.tier_meet = array("b"), array("b")
        self._curve: np.ndarray | None = None
        self._drop_savings: np.ndarray | None = None

    # -- collecting ------------------------------------------------------------------------

    def add(self, arrival: Arrival) -> None:
        request = arrival.request
        options = self.options(arrival)
        self.arrival.append(arrival.time)
        if not options:
            for column in (self.e_min, self.lat_min, self.lat_meet, self.ttft_min, self.ttft_meet):
                column.append(math.nan)
            self.extra.append(math.inf)
            self.tier_min.append(DROPPED_TIER)
            self.tier_meet.append(DROPPED_TIER)
            return
        cheapest = min(options, key=lambda o: (o.energy_j, o.latency_s))
        slo = request.slo_s
        meeting = [o for o in options if slo is None or o.latency_s <= slo]
        best = min(meeting, key=lambda o: (o.energy_j, o.latency_s)) if meeting else None
        self.e_min.append(cheapest.energy_j)
        self.lat_min.append(cheapest.latency_s)
        self.ttft_min.append(cheapest.ttft_s)
        self.tier_min.append(cheapest.tier)
        if best is None:
            self.extra.append(math.inf)
            self.lat_meet.append(math.nan)
            self.ttft_meet.append(math.nan)
            self.tier_meet.append(DROPPED_TIER)
        else:
            self.extra.append(best.energy_j - cheapest.energy_j)
            self.lat_meet.append(best.latency_s)
            self.ttft_meet.append(best.ttft_s)
            self.tier_meet.append(best.tier)
        self._curve = self._drop_savings = None

    def options(self, arrival: Arrival) -> list[Option]:
        """Every (node group, model) that could answer the request, alone."""
        request = arrival.request
        found: list[Option] = []
        origin = self.group_of.get(request.origin) if request.origin else None
        for tier in TIERS:
            names = ([origin] if origin else []) if tier == "device" else self.by_tier[tier]
            for name in names:
                option = self._option(name, request.model, request, arrival.time)
                if option is not None:
                    found.append(option)
        for policy in self.policies:
            for substitute in policy.substitutes(request, self.catalog):
                if not substitute.final:
                    continue  # tried first, then escalated: only adds energy
                where = ([origin] if origin else []) if substitute.tier == "device" else None
                for name in where if where is not None else self.by_tier[substitute.tier]:
                    option = self._option(name, substitute.model, request, arrival.time)
                    if option is not None:
                        found.append(option)
        return found

    def _option(self, group: str, model: str, request: Request, at: float) -> Option | None:
        if any(start <= at < end for start, end in self.down[group]):
            return None
        key = (group, model, request.prompt_tokens, request.output_tokens)
        if key in self._options:
            return self._options[key]
        tier, engine = self.groups[group]
        option = None
        job = Job("oracle", model, request.prompt_tokens, request.output_tokens)
        costs = engine.costs(model)
        if costs is not None and engine.check(job) is None:
            service = costs.serve(job.prompt_tokens, job.output_tokens)
            transfer = self.network.transfer(
                TIERS[tier], costs.model, job.prompt_tokens, job.output_tokens
            )
            option = Option(
                tier,
                least_energy(
                    costs,
                    job.prompt_tokens,
                    job.output_tokens,
                    engine.max_batch if self.batching else 1,
                )
                + transfer.joules,
                transfer.seconds + service.latency_s,
                transfer.seconds + service.ttft_s,
            )
        self._options[key] = option
        return option

    # -- answering -------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return len(self.arrival)

    def _energy_curve(self) -> np.ndarray:
        """curve[j] = total joules of the cheapest plan meeting `base + j` SLOs, where base
        is the number met for free (extra cost 0); curve[0] = every request at e_min."""
        if self._curve is None:
            e_min = np.frombuffer(self.e_min, dtype=float)
            extra = np.frombuffer(self.extra, dtype=float)
            base = float(np.nansum(e_min))
            positive = np.sort(extra[np.isfinite(extra) & (extra > 0)], kind="stable")
            self._curve = base + np.concatenate(([0.0], np.cumsum(positive)))
        return self._curve

    @property
    def free_met(self) -> int:
        extra = np.frombuffer(self.extra, dtype=float)
        return int(np.count_nonzero(extra == 0))

    @property
    def max_met(self) -> int:
        return int(np.count_nonzero(np.isfinite(np.frombuffer(self.extra, dtype=float))))

    def joules_at(self, met: int, dropped: int = 0) -> float | None:
        """A lower bound of E*(met, dropped) / requests: the least joules per request of any
        run meeting `met` SLOs with at most `dropped` requests unserved; None if no run can
        meet that many (not even alone on idle nodes)."""
        if met > self.max_met or not self.requests:
            return None
        curve = self._energy_curve()
        total = float(curve[max(0, met - self.free_met)])
        if dropped > 0:
            if self._drop_savings is None:
                e_min = np.frombuffer(self.e_min, dtype=float)
                largest = np.sort(e_min[np.isfinite(e_min)], kind="stable")[::-1]
                self._drop_savings = np.concatenate(([0.0], np.cumsum(largest)))
            total -= float(self._drop_savings[min(dropped, len(self._drop_savings) - 1)])
        return max(0.0, total) / self.requests

    def stats(self, met: int, horizon_s: float) -> PolicyStats:
        """The oracle's plan for `met` SLOs (at least those met for free) as a summary row."""
        met = min(met, self.max_met)
        extra = np.frombuffer(self.extra, dtype=float)
        chosen = np.zeros(len(extra), dtype=bool)
        meetable = np.flatnonzero(np.isfinite(extra))
        order = meetable[np.argsort(extra[meetable], kind="stable")]
        chosen[order[: max(met, self.free_met)]] = True
        pick = np.where
        tier = pick(chosen, np.frombuffer(self.tier_meet, np.int8), self.tier_min)
        served = tier != DROPPED_TIER
        latency = pick(chosen, np.frombuffer(self.lat_meet), np.frombuffer(self.lat_min))
        ttft = pick(chosen, np.frombuffer(self.ttft_meet), np.frombuffer(self.ttft_min))
        energy = np.nan_to_num(
            np.frombuffer(self.e_min) + pick(chosen, np.nan_to_num(extra, posinf=0.0), 0.0)
        )
        stats = PolicyStats(self.name, horizon_s)
        stats.add_arrays(
            arrival_s=np.frombuffer(self.arrival),
            served=served,
            met=chosen | (served & (extra == 0)),
            tier=np.asarray(tier, dtype=np.int8),
            latency_s=latency,
            ttft_s=ttft,
            energy_j=energy,
            escalations=np.zeros(len(extra), dtype=np.int64),
        )
        return stats
