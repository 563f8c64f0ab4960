"""The offline feasible schedule: a clairvoyant plan, run through the real simulator.

The lower bound (fleetsim.bound) says what no schedule can beat; this module makes a schedule
and runs it, so its energy is achieved, not estimated: the optimum lies between the two. It
knows the whole trace in advance (arrivals, token counts) and uses the same engines:

1. Where: each request goes to the option the bound's relaxation gives most of it (x + y), or
   is dropped where the relaxation drops it. Within a pool it picks a node: the origin device;
   on a group that does not batch, the node free soonest; on a group that batches, each model
   gets its own nodes where there are enough (a GPU batches one model at a time) and as few of
   them as its load needs, since every node more splits the batches.
2. When: a request may be held at its node before it is submitted (the simulator's `release`
   hook). On a node that batches, requests are held so that they decode together: a burst
   starts when the most urgent held request must start to meet its SLO, takes every held
   request of that model (up to the batch size), and while it runs, requests that would finish
   within it (or would have to start before it ends) join it, where they share steps that run
   anyway. On a node that does not batch, requests start one at a time, most urgent first,
   when the node is free (no queue to overflow).
3. Check and repair: each node's plan is played on a `NodeEngine` of its own (the simulator's
   engine, deterministic), and a request that would miss its SLO, or be given up by the
   router's attempt timeout, is released earlier next round.

`OfflinePlan` is a `Policy` whose plans are these predetermined steps, with the release times
the simulator holds requests to.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from fleetsim.bound import Relaxation
from fleetsim.options import Options, Pool
from fleetsim.packing import Run, pack
from fleetsim.scenario import Scenario
from npu_sim.engine import Finished, FirstToken, Job, NodeEngine, NodeSpec
from npu_sim.hardware import TIERS
from npu_sim.models import LLM
from npu_sim.predictor import Predictor
from routing.cluster import ClusterView
from routing.escalation import attempt_limit_s
from routing.policy import Plan, Policy, Step
from routing.request import Request

#: Rounds of check and repair per node.
REPAIR_ROUNDS = 6
#: How the releases on a node that batches are planned (both are tried, the better is kept).
STRATEGIES = ("bursts", "packed")
#: A request is submitted only if the prefills queued ahead of it and its own service fit in
#: this share of the router's attempt limit.
LIMIT_SHARE = 0.8
#: A node that batches is planned to be busy at most this share of the time.
BUSY_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Assignment:
    """A request's predetermined step, and when its node may start it."""

    tier: str
    model: str
    node: str
    release: float


class OfflinePlan(Policy):
    """Follows a plan made in advance: one step per request (or none: dropped)."""

    name = "offline-feasible"

    def __init__(self, plan: dict[str, Assignment], drops: dict[str, Step]) -> None:
        self.plan = plan
        self.drops = drops

    def decide(self, request: Request, view: ClusterView) -> Plan:
        found = self.plan.get(request.id)
        if found is None:
            drop = self.drops.get(request.id)
            return (drop,) if drop is not None else ()
        return (Step(found.tier, found.model, node=found.node),)

    def release(self, request: Request) -> float:
        found = self.plan.get(request.id)
        return found.release if found is not None else 0.0


@dataclass(eq=False)
class _Item:
    """One request on one node, as the node planner sees it."""

    index: int  # option index
    job: Job
    ready: float
    deadline: float
    tokens: int
    prefill_s: float
    decode_s: float  # its decode steps at the batch the relaxation expects there
    service_s: float  # prefill + decode, stretched by the other requests' prefills
    limit_s: float  # the router's attempt limit for it
    batching: bool
    late: bool  # the relaxation serves it after its SLO: it may wait for any batch
    margin: float = 0.0
    due: float = math.inf  # when it must be released, by the current estimate
    planned: float = math.nan  # when the packed plan releases it
    release: float = math.nan
    first: float = math.nan
    done: float = math.nan


@dataclass
class _NodePlan:
    spec: NodeSpec
    pool: Pool
    items: list[_Item] = field(default_factory=list)


def make_plan(
    options: Options,
    relaxation: Relaxation,
    scenario: Scenario,
    predictor: Predictor,
) -> OfflinePlan:
    """The offline schedule for the relaxation's choices (see the module's docstring)."""
    request_ids = options.ids
    chosen, drops = _choose(options, relaxation)
    nodes = _place(options, relaxation, chosen, scenario, predictor)
    missed = {node_id: _play(node, predictor) for node_id, node in nodes.items() if node.items}
    # A request a node cannot fit in its plan goes to another node of its pool, the least busy
    # one: the spill node.
    for node_id, items in missed.items():
        pool = nodes[node_id].pool
        others = [n for n in pool.nodes if n != node_id]
        if not items or not others:
            continue
        spill = min(others, key=lambda n: len(nodes[n].items))
        moved = set(map(id, items))
        nodes[node_id].items = [i for i in nodes[node_id].items if id(i) not in moved]
        nodes[spill].items += items
        _play(nodes[spill], predictor)
        if nodes[node_id].items:
            _play(nodes[node_id], predictor)
    plan: dict[str, Assignment] = {}
    for node_id, node in nodes.items():
        for item in node.items:
            o = item.index
            plan[request_ids[int(options.request[o])]] = Assignment(
                TIERS[int(options.tier[o])], options.model[o], node_id, item.release
            )
    drop_steps = {}
    for r in drops:
        mine = np.flatnonzero(options.request == r)
        if len(mine):
            o = int(mine[0])
            drop_steps[request_ids[r]] = Step(
                TIERS[int(options.tier[o])], options.model[o], skip="slo_miss"
            )
    return OfflinePlan(plan, drop_steps)


def _choose(options: Options, relaxation: Relaxation) -> tuple[np.ndarray, list[int]]:
    """Per request, the option the relaxation serves most of it on (-1: dropped)."""
    served = relaxation.x + relaxation.y
    chosen = np.full(options.requests, -1, dtype=np.int64)
    best = np.full(options.requests, -1.0)
    order = np.lexsort((options.fixed_j, -served))  # most served first, then cheapest
    for o in order.tolist():
        r = int(options.request[o])
        if chosen[r] < 0:
            chosen[r], best[r] = o, served[o]
    drops = [r for r in range(options.requests) if chosen[r] >= 0 and relaxation.drop[r] > best[r]]
    chosen[drops] = -1
    return chosen, drops


def _place(
    options: Options,
    relaxation: Relaxation,
    chosen: np.ndarray,
    scenario: Scenario,
    predictor: Predictor,
) -> dict[str, _NodePlan]:
    """Every chosen option on one node of its pool."""
    late = relaxation.y > relaxation.x
    batch = {
        key: max(1, min(options.pools[key[0]].max_batch, round(tokens / steps)))
        for key, (steps, tokens) in (
            (key, (relaxation.steps[key], relaxation.tokens[key])) for key in relaxation.steps
        )
        if steps > 0
    }
    nodes: dict[str, _NodePlan] = {}
    by_pool: dict[int, list[int]] = {}
    for o in chosen[chosen >= 0].tolist():
        by_pool.setdefault(int(options.pool[o]), []).append(o)
    for pool_index, members in by_pool.items():
        pool = options.pools[pool_index]
        group = scenario.topology[pool.group]
        for node_id in pool.nodes:
            spec = NodeSpec(
                node_id,
                group.hardware,
                dict(group.models),
                queue_capacity=group.queue_capacity,
                max_batch=group.max_batch,
            )
            nodes[node_id] = _NodePlan(spec, pool)
        members.sort(key=lambda o: options.ready[o])
        spec = nodes[pool.nodes[0]].spec
        items = [
            _item(
                options,
                o,
                bool(late[o]),
                batch.get((pool_index, options.model[o]), 1),
                spec,
                predictor,
                scenario,
            )
            for o in members
        ]
        for item, node_id in zip(items, _nodes_for(pool, items, options), strict=True):
            nodes[node_id].items.append(item)
    return nodes


def _item(
    options: Options,
    o: int,
    late: bool,
    batch: int,
    spec: NodeSpec,
    predictor: Predictor,
    scenario: Scenario,
) -> _Item:
    model = options.model[o]
    r = int(options.request[o])
    costs = predictor.costs_table(spec.hardware, spec.models)[model]
    tokens = int(options.tokens[o])
    prompt, output = _shape(options, o)
    job = Job(f"plan-{r}", model, prompt, output)
    network_s = options.ready[o] - options.arrival[r]
    alone = costs.serve(prompt, output).latency_s if isinstance(costs.model, LLM) else 0.0
    prefill = decode = 0.0
    if tokens:
        decode = tokens * costs.decode_step(batch, batch * (prompt + output / 2)).seconds
        prefill = costs.prefill(prompt).seconds
        service = prefill + decode
    else:
        service = options.work_s[o]
        alone = service
    return _Item(
        o,
        job,
        float(options.ready[o]),
        float(options.deadline[o]),
        tokens,
        prefill,
        decode,
        service,
        # The router predicts at least the network and the service alone (slowdown >= 1:
        # batched service is never faster than alone, and it learns from that).
        attempt_limit_s(network_s + alone, scenario.attempt_floor_s) - network_s,
        tokens > 0,
        late,
    )


def _shape(options: Options, o: int) -> tuple[int, int]:
    r = int(options.request[o])
    return int(options.prompt[r]), int(options.output[r])


def _nodes_for(pool: Pool, items: list[_Item], options: Options) -> list[str]:
    """A node per item (items in ready order)."""
    if len(pool.nodes) == 1:
        return [pool.nodes[0]] * len(items)
    if not pool.batching:
        free = [(0.0, node) for node in pool.nodes]  # list scheduling: the node free soonest
        heapq.heapify(free)
        found = []
        for item in items:
            at, node = heapq.heappop(free)
            found.append(node)
            heapq.heappush(free, (max(at, item.ready) + item.service_s, node))
        return found
    # A GPU batches one model at a time: models get their own nodes where there are enough,
    # as few as their load needs (busy at most BUSY_SHARE of the time at a full batch).
    horizon = max(1e-9, max(i.ready for i in items) - min(i.ready for i in items))
    load: dict[str, float] = {}
    for item in items:
        load[item.job.model] = load.get(item.job.model, 0.0) + item.service_s
    models = sorted(load, key=lambda m: -load[m])
    need = {m: max(1, math.ceil(load[m] / pool.max_batch / horizon / BUSY_SHARE)) for m in models}
    nodes = list(pool.nodes)
    sets: dict[str, list[str]] = {}
    if sum(need.values()) <= len(nodes):
        at = 0
        for m in models:
            sets[m] = nodes[at : at + need[m]]
            at += need[m]
    else:
        for i, m in enumerate(models):
            sets[m] = [nodes[i % len(nodes)]]
    window = float(
        np.median([i.deadline - i.ready for i in items if math.isfinite(i.deadline)] or [1.0])
    )
    found = []
    for item in items:
        mine = sets[item.job.model]
        found.append(mine[int(item.ready // window) % len(mine)])
    return found


def _play(node: _NodePlan, predictor: Predictor) -> list[_Item]:
    """Plan the node's releases both ways (bursts, packed runs), check each on an engine,
    repair it, and keep the one that misses fewest SLOs, then spends least; returns the
    requests it still misses."""
    items = node.items
    batching = any(item.batching for item in items)
    window = max(
        (item.deadline - item.ready for item in items if math.isfinite(item.deadline)),
        default=60.0,
    )
    first = min(item.ready for item in items)
    horizon = max(item.ready for item in items) + window
    # While a node batches, each request that joins pauses the batch for its prefill.
    pausing = min(0.5, sum(item.prefill_s for item in items) / max(horizon - first, 1e-9))
    for item in items:
        if item.batching:
            item.service_s = item.prefill_s + item.decode_s / (1 - pausing)
    best: tuple[int, float, list[tuple[float, float, float]]] | None = None
    for strategy in STRATEGIES if batching else STRATEGIES[:1]:
        for item in items:
            item.margin = 0.05 * window if math.isfinite(item.deadline) else 0.0
        for _ in range(REPAIR_ROUNDS):
            for item in items:
                met = math.isfinite(item.deadline) and not item.late
                item.due = item.deadline - item.service_s - item.margin if met else horizon
            if strategy == "packed":
                _pack(node)
            energy = _simulate(node, predictor, strategy)
            missed = [item for item in items if _missed(item)]
            late = [item for item in missed if not item.done <= item.deadline]
            if not late:
                break
            for item in late:
                over = item.done - item.deadline if math.isfinite(item.done) else item.service_s
                item.margin += 1.5 * over + 0.02 * window
        outcome = [(item.release, item.first, item.done) for item in items]
        if best is None or (len(missed), energy) < best[:2]:
            best = (len(missed), energy, outcome)
    assert best is not None
    for item, (release, first_token, done) in zip(items, best[2], strict=True):
        item.release, item.first, item.done = release, first_token, done
    return [item for item in items if _missed(item)]


def _missed(item: _Item) -> bool:
    """A request planned to meet its SLO that would not, or that the router would give up on."""
    if item.done - item.release > item.limit_s:
        return True
    return (
        not item.late
        and math.isfinite(item.deadline)
        and item.ready + item.service_s <= item.deadline
        and not item.done <= item.deadline
    )


def _pack(node: _NodePlan) -> None:
    """Release times for the requests that batch: their decode runs packed to overlap
    (fleetsim.packing), requests meeting their SLO first, then the late ones."""
    items = [item for item in node.items if item.batching]
    runs = [
        Run(
            item.service_s - item.prefill_s,
            item.ready + item.prefill_s,
            item.due + item.prefill_s,
            item.job.model,
        )
        for item in items
    ]
    order = sorted(range(len(runs)), key=lambda i: (items[i].late, -runs[i].length))
    pack(runs, node.spec.max_batch, order)
    for item, run in zip(items, runs, strict=True):
        item.planned = max(item.ready, run.start - item.prefill_s)


def _simulate(node: _NodePlan, predictor: Predictor, strategy: str) -> float:
    """Play the node's plan on a fresh engine: sets each item's release, first token and end,
    returns the joules charged to its requests. Requests that batch are released at their
    packed time ("packed") or by the burst rules (`_bursts`); the others one at a time, most
    urgent first, when the node is free."""
    items = node.items
    for item in items:
        item.release = item.first = item.done = math.nan
    engine: NodeEngine | None = NodeEngine(node.spec, predictor)
    by_job = {item.job.id: item for item in items}
    packed = strategy == "packed"
    timed = sorted(items, key=lambda i: i.planned if packed and i.batching else i.ready)
    outages = sorted(node.pool.down)
    pending: list[tuple[float, int, _Item]] = []  # reached the node, by urgency
    active: dict[str, _Item] = {}
    joules = 0.0
    next_item = 0
    retry = math.inf
    now = 0.0
    while True:
        candidates = [retry]
        if next_item < len(timed):
            upcoming = timed[next_item]
            candidates.append(upcoming.planned if packed and upcoming.batching else upcoming.ready)
        if engine is not None:
            candidates.append(engine.next_event_time())
            if not packed and pending and pending[0][0] > now:  # a held request is due
                candidates.append(pending[0][0])
        if outages:
            candidates.append(outages[0][0] if engine is not None else outages[0][1])
        at = min(candidates)
        if at == math.inf:
            return joules
        now = max(now, at)
        retry = math.inf
        if engine is not None:
            for event in engine.advance(now):
                item = by_job[event.job_id]
                if type(event) is FirstToken:
                    item.first = event.time
                elif type(event) is Finished:
                    item.done = event.done_at
                    joules += event.energy_j
                    active.pop(event.job_id, None)
        if outages and engine is not None and outages[0][0] <= now:
            engine = None  # what it held is lost
            active.clear()
        elif outages and engine is None and outages[0][1] <= now:
            engine = NodeEngine(node.spec, predictor, now)
            outages.pop(0)
        while next_item < len(timed):
            item = timed[next_item]
            if (item.planned if packed and item.batching else item.ready) > now:
                break
            urgency = -math.inf if packed and item.batching else item.due
            heapq.heappush(pending, (urgency, next_item, item))
            next_item += 1
        if engine is None or not pending:
            continue
        if packed or not pending[0][2].batching:
            chosen = _in_order(pending, engine)
        else:
            chosen = _bursts(now, pending, active, engine.max_batch)
        for item in _wave(chosen, active):
            if engine.submit(item.job, now) is not None:  # queue full: try again later
                heapq.heappush(pending, (item.due, id(item), item))
                retry = engine.next_event_time()
                continue
            item.release = now
            active[item.job.id] = item
        for item in chosen:
            if math.isnan(item.release) and item.job.id not in active:  # held by `_wave`
                heapq.heappush(pending, (item.due, id(item), item))
                retry = engine.next_event_time()


def _wave(chosen: list[_Item], active: dict[str, _Item]) -> list[_Item]:
    """Of the requests chosen for release now, those the router would not give up on: a node
    prefills every waiting request that can join before it decodes again, so each waits for
    all the prefills queued and released with it; the tightest are held for a later wave."""
    queued = sum(i.prefill_s for i in active.values() if math.isnan(i.first))
    wave = sorted(chosen, key=lambda i: i.tokens)
    while wave:
        total = queued + sum(i.prefill_s for i in wave)
        fits = [i for i in wave if total + i.service_s - i.prefill_s <= LIMIT_SHARE * i.limit_s]
        if len(fits) == len(wave):
            break
        wave = fits
    return wave


def _in_order(pending: list[tuple[float, int, _Item]], engine: NodeEngine) -> list[_Item]:
    """Due requests in order; one that does not batch only when the node is free."""
    chosen: list[_Item] = []
    while pending:
        item = pending[0][2]
        if not item.batching and (engine.in_flight or chosen):
            break
        chosen.append(heapq.heappop(pending)[2])
        if not item.batching:
            break
    return chosen


def _bursts(
    now: float,
    pending: list[tuple[float, int, _Item]],
    active: dict[str, _Item],
    max_batch: int,
) -> list[_Item]:
    """The burst rules: when a held request is due, release it with every held request of
    its model (up to the batch); while a batch runs, add those that would end within it or
    would fall due before it ends."""
    forced = []
    while pending and pending[0][0] <= now:
        forced.append(heapq.heappop(pending)[2])
    running = {item.job.model for item in active.values() if item.batching}
    model = next(iter(running)) if len(running) == 1 else None
    if model is None and not running and forced:
        model = forced[0].job.model
    if model is None:
        return forced
    in_batch = [item for item in active.values() if item.job.model == model]
    in_batch += [item for item in forced if item.job.model == model]
    end = max((_finish(item, now) for item in in_batch), default=now)
    starting = not running
    lanes = max_batch - len(in_batch)
    chosen = list(forced)
    keep = []
    while pending and lanes > 0:
        entry = heapq.heappop(pending)
        item = entry[2]
        finish = now + item.service_s
        if (
            item.job.model == model
            and item.batching
            and ((starting and not item.late) or finish <= end or item.due <= end)
        ):
            chosen.append(item)
            lanes -= 1
            end = max(end, finish)
        else:
            keep.append(entry)
    for entry in keep:
        heapq.heappush(pending, entry)
    return chosen


def _finish(item: _Item, now: float) -> float:
    """When a request in (or joining) the batch is expected to end."""
    start = item.first if not math.isnan(item.first) else now
    return start + item.service_s - item.prefill_s
