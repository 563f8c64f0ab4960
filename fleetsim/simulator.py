"""The discrete-event driver: one policy, one scenario, in virtual time.

It drives the very objects the live platform drives, the way the live router and agents drive
them (orchestrator/router.py, device_agent/node_driver.py), with a heap instead of a clock:

- a request arrives: the policy decides a plan on the `Cluster`, and an
  `Escalator` walks it;
- each step: a node that is not up is refused as "unavailable"; otherwise the request crosses
  the network (`NetworkModel.transfer`, the time the router waits) and is submitted to the
  node's `NodeEngine` at `arrival + elapsed + transfer`; a refusal (queue full, does not fit,
  ...) maps to the reason the router records and the walk moves on;
- the engine's next event is an entry on the heap; when it fires the engine advances to it and
  its `Finished` events become `NodeResult`s for the escalator, which answers (or, for a cascade
  step below its confidence, escalates); each reply teaches the cluster the node's slowdown
  (`Cluster.observe`);
- an attempt that runs past `attempt_limit_s` of its prediction (the scenario's
  `attempt_floor_s` at least) is given up as "timeout" (`Cluster.timed_out`) and the walk moves
  on, while the node finishes the job unheard, as with the live router's per-attempt deadline;
- an outage takes nodes down as a fault: their requests fail ("unavailable") and move on, they
  come back empty;
- an offline plan (fleetsim.schedule) may hold a request back: `release(request)` is the
  earliest time it is submitted to a node, and the wait counts in its latency as time queued
  at the node (no live router does this; it is how a clairvoyant schedule is run here).

The cluster view is maintained incrementally: a node's `in_flight` and `queue_depth` are copied
from its engine when they change (what a heartbeat carries live), nothing is rebuilt per
decision. Heap entries go stale when an engine's next event moves (a request joining a batch);
each node remembers the time it is scheduled for, and stale entries are skipped.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fleetsim.fleet import SimNode, affected, build_fleet
from fleetsim.scenario import Scenario
from fleetsim.workload import Arrival
from npu_sim.engine import Finished, Job, NodeEngine
from npu_sim.predictor import Predictor
from routing.cluster import Cluster
from routing.escalation import Escalator, NodeResult, Outcome, attempt_limit_s
from routing.policy import Policy, Step
from routing.refusals import NODE_REFUSALS
from routing.request import Request

Emit = Callable[[float, Request, Outcome], None]


class Flight:
    """A request on its way: its walk along the plan, the step being tried, and when the
    router would give up on that attempt."""

    __slots__ = (
        "armed",
        "arrival",
        "deadline",
        "exact",
        "held",
        "job_id",
        "node",
        "request",
        "seen",
        "step",
        "submitted",
        "walk",
    )

    def __init__(self, arrival: float, request: Request, walk: Escalator) -> None:
        self.arrival = arrival
        self.request = request
        self.walk = walk
        self.step: Step | None = None
        self.node: SimNode | None = None
        self.seen: tuple[int, float] = (0, 1.0)  # the node's in_flight, slowdown when chosen
        self.submitted = 0.0
        self.deadline = math.inf  # when the router gives up on the current attempt
        self.exact = False  # deadline computed (else: its lower bound, submitted + floor)
        self.held = 0.0  # how long the current attempt was held at its node before submission
        self.job_id = ""
        self.armed = False  # a timer for `deadline` is on the heap


class Simulator:
    """Runs `policy` over a scenario's arrivals; `emit` receives every request's one outcome."""

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        seed: int | None = None,
        predictor: Predictor | None = None,
        release: Callable[[Request], float] | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.predictor = predictor or scenario.predictor()
        self.network = scenario.network_model()
        self.cluster = Cluster(self.predictor, self.network)
        self.nodes = build_fleet(scenario, self.predictor, self.cluster)
        self.policy = policy
        self.release = release
        self.models = self.predictor.catalog.models_by_id
        self.attempt_floor_s = scenario.attempt_floor_s
        self.now = 0.0
        self._down_j = 0.0  # energy of engines lost to outages, up to when they went down
        self.arrived = 0
        self.in_flight = 0
        self._heap: list[tuple[float, int, Callable[[Any, float], None], Any]] = []
        self._seq = itertools.count()
        self._emit: Emit = _ignore
        self._groups: dict[str, list[SimNode]] = {}
        for node in self.nodes.values():
            self._groups.setdefault(node.group, []).append(node)
        for event in scenario.events:
            down = [n for g in affected(scenario, event.tier, event.group) for n in self._groups[g]]
            self._push(event.start_s, self._outage_starts, down)
            self._push(event.end_s, self._outage_ends, down)

    # -- the loop ------------------------------------------------------------------------

    def run(self, arrivals: Iterable[Arrival], emit: Emit) -> None:
        """Feed `arrivals` (in time order) and run until every request has its outcome."""
        self._emit = emit
        heap, pop, arrive = self._heap, heapq.heappop, self._arrive
        at = self.now
        with quiet_gc():
            for arrival in arrivals:
                # What is due by the arrival goes first (ties too); one heap read per event.
                until = arrival[0]
                while heap and heap[0][0] <= until:
                    at, _, handler, subject = pop(heap)
                    handler(subject, at)
                at = until
                arrive(arrival)
            while heap:
                at, _, handler, subject = pop(heap)
                handler(subject, at)
        self.now = at  # the last event's time

    def _push(self, at: float, handler: Callable[[Any, float], None], subject: Any) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), handler, subject))

    # -- requests ------------------------------------------------------------------------

    def _arrive(self, arrival: Arrival) -> None:
        request = arrival.request
        plan = self.policy.decide(request, self.cluster)
        flight = Flight(arrival.time, request, Escalator(request, plan, self.network, self.models))
        self.arrived += 1
        self.in_flight += 1
        self._next(flight, arrival.time)

    def _next(self, flight: Flight, now: float) -> None:
        """Try the walk's next steps until one is accepted or in transit, or the walk ends."""
        walk = flight.walk
        request = flight.request
        while (step := walk.next_step()) is not None:
            node = self.nodes.get(step.node) if step.node is not None else None
            if node is None or not node.state.up:
                walk.refused("unavailable")
                continue
            # The router predicts the attempt's latency now, to give up on it if it runs past
            # a multiple of that; remember what the prediction reads, compute it if needed.
            state = node.state
            flight.seen = (state.in_flight, state.slowdown)
            at = flight.arrival + walk.elapsed_s
            if step.tier != "device":  # the device is local: NetworkModel moves nothing there
                at += self.network.transfer(
                    step.tier, self.models[step.model], request.prompt_tokens, request.output_tokens
                ).seconds
            if self.release is not None:
                reached, at = at, max(at, self.release(request))
                flight.held = at - reached
            if at > now:  # the request is on the wire until `at`
                flight.step, flight.node = step, node
                self._push(at, self._dispatch, flight)
                return
            if self._submit(flight, step, node, now):
                return
        self._finish(flight)

    def _dispatch(self, flight: Flight, now: float) -> None:
        """A request reaches the node it was sent to."""
        node, step = flight.node, flight.step
        assert node is not None and step is not None
        if not node.state.up:
            flight.walk.refused("unavailable")
        elif self._submit(flight, step, node, now):
            return
        self._next(flight, now)

    def _submit(self, flight: Flight, step: Step, node: SimNode, now: float) -> bool:
        request = flight.request
        job = Job(
            f"{request.id}:{step.model}",  # as the router names runs (a cascade makes two)
            step.model,
            request.prompt_tokens,
            request.output_tokens,
        )
        engine = node.engine
        rejection = engine.submit(job, now)
        if rejection is not None:
            flight.walk.refused(NODE_REFUSALS[rejection.reason].reason)
            return False
        flight.step, flight.node, flight.job_id, flight.submitted = step, node, job.id, now
        flight.deadline, flight.exact, flight.armed = now + self.attempt_floor_s, False, False
        node.jobs[job.id] = flight
        state = node.state
        state.in_flight = engine.in_flight
        state.queue_depth = engine.queue_depth
        at = engine.next_event_time()
        if at != node.scheduled:  # the node's next event on the heap (every request)
            node.scheduled = at
            heapq.heappush(self._heap, (at, next(self._seq), self._node_event, node))
        if flight.deadline < at:
            self._arm(flight, at)
        return True

    def _arm(self, flight: Flight, upcoming: float) -> None:
        """Put the attempt's timeout on the heap once it is sure to fire: when the node's next
        event comes after it. Until then `deadline` is its lower bound (the floor); the
        router's prediction is computed only for an attempt that may outlast the floor, from
        the node state it saw (the same `Cluster.estimate`), so most attempts cost nothing."""
        if not flight.exact:
            flight.exact = True
            node, step = flight.node, flight.step
            assert node is not None and step is not None
            # The node's state as the router saw it, restored at once: cheaper than a copy
            # (dataclasses.replace), and nothing else runs in between.
            state = node.state
            current = state.in_flight, state.slowdown
            state.in_flight, state.slowdown = flight.seen
            try:
                predicted = self.cluster.estimate(state, flight.request, step.model).latency_s
            finally:
                state.in_flight, state.slowdown = current
            flight.deadline = flight.submitted + attempt_limit_s(predicted, self.attempt_floor_s)
            if flight.deadline >= upcoming:
                return
        flight.armed = True
        self._push(flight.deadline, self._attempt_timeout, flight)

    def _attempt_timeout(self, flight: Flight, now: float) -> None:
        """The router gives up on an attempt that ran too long: it escalates ("timeout") and
        the node looks slower to every estimate; the node still finishes the job, unheard."""
        node = flight.node
        if node is None or node.jobs.get(flight.job_id) is not flight:
            return  # answered, or already failed over
        del node.jobs[flight.job_id]
        self.cluster.timed_out(node.state)
        flight.walk.refused("timeout")
        self._next(flight, now)

    def _answered(self, flight: Flight, event: Finished, now: float) -> None:
        step, node = flight.step, flight.node
        assert step is not None and node is not None
        # As the router does with every reply: learn the node's slowdown from its service time.
        self.cluster.observe(
            node.state, flight.request, step.model, event.done_at - event.started_at
        )
        submitted = event.submitted_at - flight.held
        result = NodeResult(
            event.first_token_at - submitted,
            event.done_at - submitted,
            event.energy_j,
            event.output_tokens,
        )
        confidence = (
            1.0
            if step.min_confidence is None
            else self.policy.confidence(flight.request, step.model)
        )
        walk = flight.walk
        if walk.answered(result, confidence):
            self.in_flight -= 1  # _finish, inlined: once per served request
            self._emit(flight.arrival, flight.request, walk.outcome)
        else:
            self._next(flight, now)

    def _finish(self, flight: Flight) -> None:
        self.in_flight -= 1
        self._emit(flight.arrival, flight.request, flight.walk.outcome)

    # -- nodes ---------------------------------------------------------------------------

    def _node_event(self, node: SimNode, now: float) -> None:
        if node.scheduled != now:
            return  # stale: the node's next event moved since this entry was pushed
        node.scheduled = math.inf
        engine = node.engine
        events = engine.advance(now)
        state = node.state
        state.in_flight = engine.in_flight
        state.queue_depth = engine.queue_depth
        jobs = node.jobs
        for event in events:
            if type(event) is Finished:
                flight = jobs.pop(event.job_id, None)
                if flight is not None:  # None: the router gave up on it (attempt timeout)
                    self._answered(flight, event, now)
        upcoming = engine.next_event_time()  # the node's next event on the heap, if it moved
        if upcoming != node.scheduled:
            node.scheduled = upcoming
            if upcoming != math.inf:
                heapq.heappush(self._heap, (upcoming, next(self._seq), self._node_event, node))
        for flight in jobs.values():
            if not flight.armed and flight.deadline < upcoming:
                self._arm(flight, upcoming)

    # -- faults --------------------------------------------------------------------------

    def _outage_starts(self, nodes: list[SimNode], now: float) -> None:
        """Nodes go down: what they held fails over as a refused call would."""
        failed: list[Flight] = []
        for node in nodes:
            node.outages += 1
            if node.outages > 1:
                continue
            self.cluster.set_up(node.spec.id, False)
            self._down_j += node.engine.energy_j(now)
            failed.extend(node.jobs.values())
            node.jobs.clear()
            node.scheduled = math.inf
            node.state.in_flight = node.state.queue_depth = 0
        for flight in failed:
            flight.walk.refused("unavailable")
            self._next(flight, now)

    def _outage_ends(self, nodes: list[SimNode], now: float) -> None:
        """Nodes come back empty (restarted: an idle engine, its models preloaded)."""
        for node in nodes:
            node.outages -= 1
            if node.outages > 0:
                continue
            node.engine = NodeEngine(node.spec, self.predictor, now)
            node.sync()
            self.cluster.set_up(node.spec.id, True)

    def nodes_energy_j(self) -> float:
        """What every provisioned node drew from time 0 to the end of the run (`now`): busy
        and idle power, nothing while down (a node that comes back starts a new engine)."""
        up = sum(node.engine.energy_j(self.now) for node in self.nodes.values() if not node.outages)
        return self._down_j + up


def _ignore(arrival: float, request: Request, outcome: Outcome) -> None:
    """The default sink, until `run` is given one."""


@contextlib.contextmanager
def quiet_gc(threshold: int = 200_000) -> Iterator[None]:
    """Run with the cyclic garbage collector freezing what exists (the fleet: hundreds of
    thousands of long-lived objects it would otherwise rescan) and collecting the young
    generation 200,000 allocations apart instead of 700. A simulation allocates and frees
    millions of small acyclic objects (refcounting frees them); with the defaults, collections
    of a 10,000-node fleet cost a fifth of the run. Restored on exit."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
