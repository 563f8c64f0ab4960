"""Where each request could be served, and the least the node engine can charge it there.

The lower bound (fleetsim.bound) and the offline schedule (fleetsim.schedule) both start from
the same table: for every request, every pool of nodes that could answer it (its own device, an
edge or cloud group; and the cascade's small model on its device when the cascade would accept
that answer), with what the simulation would charge it there. What is charged follows
`npu_sim.engine.NodeEngine` exactly (read its `_finish`):

- a request runs alone through its prefill (or its one vision inference) at the phase's power,
  and pays all of it; on a chip that does not batch it then decodes alone in one epoch, so it
  pays exactly `Costs.serve` (the same mid-context steps);
- on a chip that batches, each decode step's energy is split evenly over the requests in the
  batch, so the requests of a batch together pay the whole step; how much that is depends on the
  batch, which the bound leaves to its linear program. What it needs from here is a floor on
  one step's energy that is linear in the step's KV context, `DecodeFloor`: E(b, C) >= h(b) +
  kappa * C for a batch of b requests holding C tokens. Summed over a request's decode steps
  the kappa part is the request's own, whatever its batch, and is charged here;
- the network costs what `NetworkModel.transfer` says, as the escalator charges it.

A pool is usable only if a node there serves the model, the engine's own `check` accepts the
request, and the pool is up when the request arrives: plans are decided on arrival, and a
policy sees no node of a pool that is down. A request served on a pool must end before the
pool's next outage (its work would be lost), which shortens its window.

Every number here is in seconds and joules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fleetsim.fleet import affected
from fleetsim.scenario import Scenario
from fleetsim.workload import Arrival
from npu_sim.engine import Job, NodeEngine, NodeSpec
from npu_sim.hardware import TIERS
from npu_sim.models import LLM
from npu_sim.perf import Costs
from npu_sim.predictor import Predictor
from routing.policy import Policy


@dataclass(frozen=True)
class DecodeFloor:
    """A floor under the energy of one decode step of `b` requests holding `C` tokens of KV
    cache, as `Costs.decode_step(b, C).joules` charges it: E(b, C) >= h[b - 1] + kappa * C,
    for every b in 1..max_batch and C >= 0. `step_s` is a floor under any step's duration.

    Why it is a floor (npu_sim.perf and npu_sim.power): a step lasts s = max(memory time,
    compute time) + overhead + per-layer cost >= m = bytes / (bandwidth * efficiency) +
    overhead + per-layer cost, and draws idle + (max - idle) * min(1, A / s) with A = k_compute
    * flops / rate + k_memory * bytes / bandwidth, so E = idle * s + (max - idle) * min(s, A),
    which grows with s: E >= idle * m + (max - idle) * min(m, A). Bytes (weights + kv * C) and
    flops (2 * params * b + attention * C) are linear in b and C, so that is the smaller of two
    planes L1, L2, and min(L1, L2) >= min(L1, L2 at C = 0) + min(their C slopes) * C. While a
    step is memory-bound and below the power cap (every shipped GPU configuration) the floor is
    exact."""

    h: np.ndarray
    kappa: float
    step_s: float


def decode_floor(costs: Costs, max_batch: int) -> DecodeFloor:
    """The floor of `costs`'s decode steps for batches up to `max_batch` (see `DecodeFloor`)."""
    llm = costs.model
    assert isinstance(llm, LLM)
    hardware, factors, power = costs.hardware, costs.factors, costs.factors.power
    bandwidth, rate = costs.bandwidth, costs.prefill_ops_per_s
    weights = llm.decode_weight_bytes(costs.precision)
    kv = llm.kv_bytes_per_token(costs.precision)
    per_token_flops = llm.decode_flops(0.0)  # b requests: b * this + attention * C
    attention = llm.decode_flops(1.0) - per_token_flops
    fixed_s = factors.decode.overhead + factors.decode.per_layer * llm.layers
    step_s = weights / (bandwidth * factors.decode.efficiency) + fixed_s
    step_per_context = kv / (bandwidth * factors.decode.efficiency)
    batch = np.arange(1, max_batch + 1, dtype=float)
    activity = power.compute * per_token_flops * batch / rate + power.memory * weights / bandwidth
    activity_per_context = power.compute * attention / rate + power.memory * kv / bandwidth
    idle, span = hardware.idle_w, hardware.max_w - hardware.idle_w
    capped = np.minimum(step_s, activity)  # min(m, A) at C = 0
    capped_per_context = min(step_per_context, activity_per_context)
    return DecodeFloor(
        h=idle * step_s + span * capped,
        kappa=idle * step_per_context + span * capped_per_context,
        step_s=step_s,
    )


def hull_lines(h: np.ndarray) -> list[tuple[float, float]]:
    """The lower convex hull of the points (b, h[b - 1]) as lines (alpha, beta): for each,
    h(b) >= alpha + beta * b at every b, so a run's steps, summed, cost at least
    alpha * steps + beta * tokens; the largest of these lines is the tightest such bound."""
    points: list[tuple[float, float]] = []
    for b, value in enumerate(h.tolist(), start=1):
        while len(points) >= 2:
            (b1, v1), (b2, v2) = points[-2], points[-1]
            if (v2 - v1) * (b - b1) >= (value - v1) * (b2 - b1):  # (b2, v2) not below the chord
                points.pop()
            else:
                break
        points.append((float(b), value))
    if len(points) == 1:  # max_batch 1: every step holds one token
        return [(points[0][1], 0.0)]
    lines = []
    for (b1, v1), (b2, v2) in itertools.pairwise(points):
        beta = (v2 - v1) / (b2 - b1)
        lines.append((v1 - beta * b1, beta))
    return lines


@dataclass(frozen=True)
class Pool:
    """Nodes a request may be sent to as one choice: one device, or every node of a group."""

    group: str
    tier: int  # index in TIERS
    nodes: tuple[str, ...]
    hardware: str
    batching: bool
    max_batch: int
    idle_w: float
    down: tuple[tuple[float, float], ...]  # outages (start, end), sorted

    def up_at(self, t: float) -> bool:
        return not any(start <= t < end for start, end in self.down)

    def next_outage(self, t: float) -> float:
        """When the pool next goes down at or after `t` (inf if never)."""
        starts = [start for start, _ in self.down if start >= t]
        return min(starts) if starts else math.inf

    def up_seconds(self, begin: float, end: float) -> float:
        """Seconds in [begin, end) during which the pool is up."""
        down = 0.0
        for start, stop in self.down:
            down += max(0.0, min(end, stop) - max(begin, start))
        return max(0.0, end - begin - down)


@dataclass
class Options:
    """Every request (in arrival order) and every way to serve it, as flat arrays.

    Per request r: `arrival[r]`, `slo[r]` (inf: none), `prompt[r]`, `output[r]` (tokens). Per
    option o: `request[o]`, `pool[o]`, `model[o]`, `tier[o]`; `fixed_j[o]` what the request
    pays whatever its batch (prefill or whole service, KV floor, network); `tokens[o]` the decode
    steps it shares with a batch (0 where the chip does not batch); `ready[o]` when it can start
    on the node (arrival + network), `start[o]` when its decode steps can start (after its
    prefill; = ready where not batched); `deadline[o]` when it must be done to meet its SLO
    (capped by the pool's next outage; inf without an SLO); `work_s[o]` node time it needs at
    least; `meets[o]` whether it can meet the SLO there at all."""

    pools: list[Pool]
    floors: dict[tuple[int, str], DecodeFloor]  # (pool, model) on pools that batch
    arrival: np.ndarray
    slo: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    request: np.ndarray
    pool: np.ndarray
    model: list[str]
    tier: np.ndarray
    fixed_j: np.ndarray
    tokens: np.ndarray
    ready: np.ndarray
    start: np.ndarray
    deadline: np.ndarray
    work_s: np.ndarray
    meets: np.ndarray
    ids: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.arrival)

    def batching(self) -> np.ndarray:
        return self.tokens > 0


@dataclass(frozen=True, slots=True)
class _Charge:
    """An option's numbers that depend only on (pool kind, model, tokens)."""

    fixed_j: float
    tokens: int
    network_s: float
    prefill_s: float
    work_s: float
    least_s: float  # fastest end to end: network, prefill, decode steps at their floor


class OptionsBuilder:
    """Collects requests (`add`) and builds `Options`."""

    def __init__(self, scenario: Scenario, predictor: Predictor, policies: list[Policy]):
        self.network = scenario.network_model()
        self.catalog = predictor.catalog
        self.pools: list[Pool] = []
        self._engines: dict[str, NodeEngine] = {}
        self._device_pool: dict[str, int] = {}
        self._group_pool: dict[str, int] = {}
        self._serving: dict[tuple[int, str], list[int]] = {}  # (tier, model) -> pools
        down: dict[str, list[tuple[float, float]]] = {name: [] for name in scenario.topology}
        for event in scenario.events:
            for name in affected(scenario, event.tier, event.group):
                down[name].append((event.start_s, event.end_s))
        for name, group in scenario.topology.items():
            spec = NodeSpec(name, group.hardware, dict(group.models), max_batch=group.max_batch)
            engine = self._engines[name] = NodeEngine(spec, predictor)
            hardware = predictor.catalog.hardware(group.hardware)
            ids = group.node_ids(name)
            members = [(node,) for node in ids] if group.tier == "device" else [tuple(ids)]
            for nodes in members:
                index = len(self.pools)
                self.pools.append(
                    Pool(
                        name,
                        TIERS.index(group.tier),
                        nodes,
                        group.hardware,
                        engine.max_batch > 1,
                        engine.max_batch,
                        hardware.idle_w,
                        tuple(sorted(down[name])),
                    )
                )
                if group.tier == "device":
                    self._device_pool[nodes[0]] = index
                else:
                    self._group_pool[name] = index
                    for model in group.models:
                        self._serving.setdefault((TIERS.index(group.tier), model), []).append(index)
        self.policies = policies
        self.floors: dict[tuple[int, str], DecodeFloor] = {}
        self._charges: dict[tuple[str, str, int, int], _Charge | None] = {}
        self._floor_of: dict[tuple[str, str], DecodeFloor] = {}
        self._rows: list[tuple] = []
        self.arrival: list[float] = []
        self.slo: list[float] = []
        self.prompt: list[int] = []
        self.output: list[int] = []
        self.ids: list[str] = []

    def add(self, arrival: Arrival) -> None:
        request = arrival.request
        r = len(self.arrival)
        at = arrival.time
        self.arrival.append(at)
        self.ids.append(request.id)
        slo = math.inf if request.slo_s is None else request.slo_s
        self.slo.append(slo)
        self.prompt.append(request.prompt_tokens)
        self.output.append(request.output_tokens)
        choices: list[tuple[int, str]] = []
        device = self._device_pool.get(request.origin) if request.origin else None
        for tier in range(len(TIERS)):
            if TIERS[tier] == "device":
                if device is not None:
                    choices.append((device, request.model))
            else:
                choices += [
                    (p, request.model) for p in self._serving.get((tier, request.model), [])
                ]
        # Answers by another model that a policy of the run declares final (a cascade's
        # confident small-model answer): options too, their confidence known in advance.
        for policy in self.policies:
            for substitute in policy.substitutes(request, self.catalog):
                if not substitute.final:
                    continue  # tried first, then escalated: only adds energy
                if substitute.tier == "device":
                    if device is not None:
                        choices.append((device, substitute.model))
                else:
                    tier = TIERS.index(substitute.tier)
                    choices += [
                        (p, substitute.model)
                        for p in self._serving.get((tier, substitute.model), [])
                    ]
        choices = list(dict.fromkeys(choices))
        for pool_index, model in choices:
            pool = self.pools[pool_index]
            if not pool.up_at(at):
                continue
            charge = self._charge(pool_index, model, request.prompt_tokens, request.output_tokens)
            if charge is None:
                continue
            ready = at + charge.network_s
            deadline = min(at + slo, pool.next_outage(at))
            self._rows.append(
                (
                    r,
                    pool_index,
                    model,
                    pool.tier,
                    charge.fixed_j,
                    charge.tokens,
                    ready,
                    ready + charge.prefill_s,
                    deadline,
                    charge.work_s,
                    at + charge.least_s <= deadline,
                )
            )

    def _charge(self, pool_index: int, model: str, prompt: int, output: int) -> _Charge | None:
        pool = self.pools[pool_index]
        key = (pool.group, model, prompt, output)
        if key in self._charges:
            charge = self._charges[key]
        else:
            charge = self._charges[key] = self._compute(pool, model, prompt, output)
        if charge is not None and charge.tokens:
            self.floors[(pool_index, model)] = self._floor_of[(pool.group, model)]
        return charge

    def _compute(self, pool: Pool, model: str, prompt: int, output: int) -> _Charge | None:
        engine = self._engines[pool.group]
        costs = engine.costs(model)
        if costs is None or engine.check(Job("bound", model, prompt, output)) is not None:
            return None
        transfer = self.network.transfer(TIERS[pool.tier], costs.model, prompt, output)
        if not isinstance(costs.model, LLM) or not pool.batching:
            # Alone, as the engine charges it: one image, or prefill and decode on its own.
            if isinstance(costs.model, LLM):
                service = costs.serve(prompt, output)
                joules, seconds = service.energy_j, service.latency_s
            else:
                phase = costs.vision(1)
                joules, seconds = phase.joules, phase.seconds
            return _Charge(
                joules + transfer.joules,
                0,
                transfer.seconds,
                0.0,
                seconds,
                transfer.seconds + seconds,
            )
        floor = self._floor_of.get((pool.group, model))
        if floor is None:
            floor = self._floor_of[(pool.group, model)] = decode_floor(costs, pool.max_batch)
        prefill = costs.prefill(prompt)
        steps = output - 1
        # The KV context a request holds over its decode steps: prompt + 1 after its prefill,
        # one more each step (the engine's mid-epoch context sums to the same).
        context = steps * (prompt + 1) + steps * (steps - 1) / 2
        return _Charge(
            prefill.joules + floor.kappa * context + transfer.joules,
            steps,
            transfer.seconds,
            prefill.seconds,
            prefill.seconds + steps * floor.step_s,
            transfer.seconds + prefill.seconds + steps * floor.step_s,
        )

    def build(self) -> Options:
        """The collected options as arrays."""
        rows = self._rows
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(11)]
        as_float = lambda i: np.asarray(columns[i], dtype=float)  # noqa: E731
        return Options(
            pools=self.pools,
            floors=self.floors,
            arrival=np.asarray(self.arrival, dtype=float),
            slo=np.asarray(self.slo, dtype=float),
            prompt=np.asarray(self.prompt, dtype=np.int64),
            output=np.asarray(self.output, dtype=np.int64),
            request=np.asarray(columns[0], dtype=np.int64),
            pool=np.asarray(columns[1], dtype=np.int64),
            model=list(columns[2]),
            tier=np.asarray(columns[3], dtype=np.int64),
            fixed_j=as_float(4),
            tokens=np.asarray(columns[5], dtype=np.int64),
            ready=as_float(6),
            start=as_float(7),
            deadline=as_float(8),
            work_s=as_float(9),
            meets=np.asarray(columns[10], dtype=bool),
            ids=self.ids,
        )


def collect(
    scenario: Scenario, predictor: Predictor, policies: list[Policy], arrivals: Iterable[Arrival]
) -> Options:
    """The options of every request of `arrivals` (the scenario's workload)."""
    builder = OptionsBuilder(scenario, predictor, policies)
    for arrival in arrivals:
        builder.add(arrival)
    return builder.build()
