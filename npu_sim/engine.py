"""The node engine: one simulated chip serving requests, stepped by an explicit `now`.

It owns a bounded FIFO queue, the resident models (loading one costs time: weights over the host
link, evicting the least recently used if memory runs short), and one activity at a time:

    idle -> [load model] -> prefill one request -> decode the batch for k steps -> ...

On hardware that batches, decoding is continuous: a waiting request of the running model is
prefilled at the next step boundary and joins the batch (up to `max_batch`). A decode "epoch"
covers k steps at once, k being the steps until the next request finishes, so the cost of
simulating a request does not grow with its output length. Within an epoch the step time is
taken at the epoch's mid-context (exact while decoding is memory-bound, as the KV cache grows
linearly).

Energy is power integrated over time: each activity at the power the model gives for it, idle
time at idle power. A request is charged its own prefill, its share of each decode step, and a
model load it caused; idle energy stays with the node.

Pure core: no clock, no I/O. A driver (the live agent, fleetsim) calls `submit` and `advance`
with its own `now` and reads the events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from npu_sim.fastinit import fast_init
from npu_sim.models import LLM
from npu_sim.perf import Costs
from npu_sim.predictor import Predictor

RejectReason = Literal["unknown_model", "does_not_fit", "queue_full", "bad_request"]
DEFAULT_QUEUE_CAPACITY = 16
DEFAULT_MAX_BATCH = 32


@fast_init
@dataclass(frozen=True, slots=True)
class Job:
    """A request as a node sees it. Vision models ignore the token counts (one image)."""

    id: str
    model: str
    prompt_tokens: int = 1
    output_tokens: int = 1


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a node refused a job; `detail` is for humans (it carries the numbers), `field` names
    the job's field at fault when there is one."""

    reason: RejectReason
    detail: str
    field: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class FirstToken:
    job_id: str
    time: float


@fast_init
@dataclass(frozen=True, slots=True)
class Finished:
    """A job's outcome: when it was submitted, started, produced its first token and ended."""

    job_id: str
    submitted_at: float
    started_at: float
    first_token_at: float
    done_at: float
    energy_j: float
    output_tokens: int


Event = FirstToken | Finished


@dataclass(frozen=True)
class NodeSpec:
    """What a node is: its chip, the models it serves (id -> precision), its queue bound,
    which models are loaded at start (default: as many as fit, in order)."""

    id: str
    hardware: str
    models: dict[str, str]
    queue_capacity: int = DEFAULT_QUEUE_CAPACITY
    max_batch: int = DEFAULT_MAX_BATCH
    preload: tuple[str, ...] | None = None
    slowdown: float = 1.0  # fault injection: every activity takes this many times longer


@dataclass(slots=True)
class _Running:
    job: Job
    submitted_at: float
    started_at: float
    first_token_at: float
    context: int  # tokens in the KV cache
    remaining: int  # tokens still to generate
    energy_j: float


@dataclass(slots=True)
class _Activity:
    kind: Literal["load", "prefill", "decode", "vision"]
    start: float
    end: float
    watts: float
    model: str
    jobs: list[tuple[Job, float]] = field(default_factory=list)  # (job, submitted_at)
    step_s: float = 0.0
    steps: int = 0


class NodeEngine:
    """A simulated node. Not thread-safe: one driver steps it."""

    def __init__(self, spec: NodeSpec, predictor: Predictor, now: float = 0.0) -> None:
        self.spec = spec
        self.hardware = predictor.catalog.hardware(spec.hardware)
        self.max_batch = spec.max_batch if self.hardware.batching else 1
        self._costs = predictor.costs_table(spec.hardware, spec.models)  # shared: read only
        # Read on every job: kept with the engine's own state, not only in the spec. A fleet
        # holds thousands of engines and touches one per request, so each is kept small: the
        # queue a list (a few jobs; a deque allocates a 64-slot block), the resident models a
        # dict (its insertion order is the LRU order).
        self._capacity = spec.queue_capacity
        self._slowdown = spec.slowdown
        self._waiting: list[tuple[Job, float]] = []
        self._running: list[_Running] = []
        self._activity: _Activity | None = None
        self._resident: dict[str, float] = {}  # model -> weight bytes, least recent first
        self._clock = now
        self._energy_j = 0.0
        self._busy_s = 0.0
        self._in_flight = 0  # accepted, not yet finished: counted, not summed on every read
        self._load_energy: dict[str, float] = {}  # job id -> joules of the load it caused
        for model in spec.preload if spec.preload is not None else tuple(spec.models):
            weights = self._costs[model].model.weight_bytes(self._costs[model].precision)
            if self._resident_bytes() + weights <= self.hardware.memory_bytes:
                self._resident[model] = weights

    # -- what drivers and policies read ------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def in_flight(self) -> int:
        """Jobs accepted and not yet finished (waiting, being prefilled or decoding)."""
        return self._in_flight

    @property
    def resident_models(self) -> list[str]:
        return list(self._resident)

    def costs(self, model: str) -> Costs | None:
        return self._costs.get(model)

    def power_w(self) -> float:
        return self._activity.watts if self._activity else self.hardware.idle_w

    def energy_j(self, now: float) -> float:
        """Energy drawn since the engine started, up to `now` (>= the last advance)."""
        return self._energy_j + self.power_w() * max(0.0, now - self._clock)

    def utilisation(self, now: float) -> float:
        """Fraction of time since start spent busy (loading, prefilling, decoding)."""
        busy = self._busy_s + (max(0.0, now - self._clock) if self._activity else 0.0)
        return busy / now if now > 0 else 0.0

    def next_event_time(self) -> float:
        """When the current activity ends (and events may come out); inf when idle."""
        return self._activity.end if self._activity else math.inf

    # -- what drivers call ---------------------------------------------------------------

    def check(self, job: Job) -> Rejection | None:
        """Why this node could never serve `job` (not queue state), or None."""
        costs = self._costs.get(job.model)
        if costs is None:
            return Rejection("unknown_model", f"node {self.spec.id} does not serve {job.model}")
        if job.prompt_tokens < 1:
            return Rejection("bad_request", "must be at least 1", "prompt_tokens")
        if job.output_tokens < 1:
            return Rejection("bad_request", "must be at least 1", "output_tokens")
        model = costs.model
        context = job.prompt_tokens + job.output_tokens
        if isinstance(model, LLM):
            overflow = model.context_overflow(job.prompt_tokens, job.output_tokens)
            if overflow is not None:
                return Rejection("bad_request", overflow.message, overflow.field)
        if not costs.fits(context):
            need = costs.memory(context)
            return Rejection("does_not_fit", f"{model.id} on {self.hardware.id}: {need.explain()}")
        return None

    def submit(self, job: Job, now: float) -> Rejection | None:
        """Accept `job` at `now` (then exactly one Finished event follows) or say why not."""
        activity = self._activity
        if activity is not None and now > activity.end:
            raise ValueError(f"advance the engine to {now} before submitting at that time")
        rejection = self.check(job)
        if rejection is not None:
            return rejection
        if len(self._waiting) >= self._capacity:
            return Rejection("queue_full", f"node {self.spec.id} queue is full ({self._capacity})")
        self._settle(now)
        self._waiting.append((job, now))
        self._in_flight += 1
        if activity is None:
            self._start_next(now)
        elif activity.kind == "decode" and self._can_join(job.model) and activity.steps > 1:
            self._cut_epoch(now)
        return None

    def advance(self, now: float) -> list[Event]:
        """Run the node up to `now`; returns the events that happened, in time order."""
        events: list[Event] = []
        activity = self._activity
        while activity is not None and activity.end <= now:
            self._settle(activity.end)
            self._activity = None
            self._finish(activity, events)
            self._start_next(activity.end)
            activity = self._activity
        if now > self._clock:  # drivers mostly advance to an activity's end: settled
            self._settle(now)
        return events

    # -- internals -------------------------------------------------------------------------

    def _settle(self, now: float) -> None:
        """Account energy and busy time from the last settle to `now`."""
        if now <= self._clock:
            return
        elapsed = now - self._clock
        activity = self._activity  # power_w(), inlined: this runs on every event
        if activity is not None:
            self._energy_j += activity.watts * elapsed
            self._busy_s += elapsed
        else:
            self._energy_j += self.hardware.idle_w * elapsed
        self._clock = now

    def _resident_bytes(self) -> float:
        return sum(self._resident.values())

    def _can_join(self, model: str) -> bool:
        return (
            bool(self._running)
            and self._running[0].job.model == model
            and len(self._running) < self.max_batch
        )

    def _cut_epoch(self, now: float) -> None:
        """End the running decode epoch at the first step boundary after `now`, so a newly
        arrived job can be prefilled and join the batch."""
        activity = self._activity
        assert activity is not None and activity.kind == "decode"
        done = int((now - activity.start) / activity.step_s) + 1
        if done < activity.steps:
            activity.steps = done
            activity.end = activity.start + done * activity.step_s

    def _start_next(self, now: float) -> None:
        """Choose the next activity: join or prefill a waiting job, else keep decoding."""
        waiting = self._waiting
        if waiting and (not self._running or self._can_join(waiting[0][0].model)):
            job, submitted = waiting[0]
            resident = self._resident
            if job.model not in resident:
                self._start_load(job.model, now)
                return
            resident[job.model] = resident.pop(job.model)  # now the most recently used
            del waiting[0]
            costs = self._costs[job.model]
            if isinstance(costs.model, LLM):
                phase = costs.prefill(job.prompt_tokens)
                kind: Literal["prefill", "vision"] = "prefill"
            else:
                phase = costs.vision(1)
                kind = "vision"
            self._activity = _Activity(
                kind,
                now,
                now + phase.seconds * self._slowdown,
                phase.watts,
                job.model,
                [(job, submitted)],
            )
        elif self._running:
            self._start_decode(now)

    def _start_load(self, model: str, now: float) -> None:
        costs = self._costs[model]
        weights = costs.model.weight_bytes(costs.precision)
        while self._resident and self._resident_bytes() + weights > self.hardware.memory_bytes:
            del self._resident[next(iter(self._resident))]  # the least recently used
        seconds = weights / self.hardware.host_link_bytes_per_s * self._slowdown
        # Loading streams weights through memory at the host-link rate: memory-bound power.
        watts = self.hardware.idle_w + (self.hardware.max_w - self.hardware.idle_w) * min(
            1.0, self.hardware.host_link_bytes_per_s / self.hardware.bandwidth_bytes_per_s
        )
        self._activity = _Activity("load", now, now + seconds, watts, model)

    def _start_decode(self, now: float) -> None:
        steps = min(r.remaining for r in self._running)
        if self._waiting and self._can_join(self._waiting[0][0].model):
            steps = 1
        batch = len(self._running)
        mid_context = sum(r.context for r in self._running) + batch * (steps - 1) / 2
        phase = self._costs[self._running[0].job.model].decode_step(batch, mid_context)
        self._activity = _Activity(
            "decode",
            now,
            now + steps * phase.seconds * self._slowdown,
            phase.watts,
            self._running[0].job.model,
            step_s=phase.seconds * self._slowdown,
            steps=steps,
        )

    def _finish(self, activity: _Activity, events: list[Event]) -> None:
        joules = activity.watts * (activity.end - activity.start)
        if activity.kind == "load":
            costs = self._costs[activity.model]
            self._resident[activity.model] = costs.model.weight_bytes(costs.precision)
            # The job that caused the load pays for it when it starts.
            if self._waiting:
                job_id = self._waiting[0][0].id
                self._load_energy[job_id] = self._load_energy.get(job_id, 0.0) + joules
            return
        if activity.kind in ("prefill", "vision"):
            job, submitted = activity.jobs[0]
            energy = joules + self._load_energy.pop(job.id, 0.0)
            events.append(FirstToken(job.id, activity.end))
            if activity.kind == "vision" or job.output_tokens == 1:
                self._in_flight -= 1
                events.append(
                    Finished(
                        job.id,
                        submitted,
                        activity.start,
                        activity.end,
                        activity.end,
                        energy,
                        0 if activity.kind == "vision" else 1,
                    )
                )
                return
            self._running.append(
                _Running(
                    job,
                    submitted,
                    activity.start,
                    activity.end,
                    job.prompt_tokens + 1,
                    job.output_tokens - 1,
                    energy,
                )
            )
            return
        share = joules / len(self._running)
        still = []
        for running in self._running:
            running.remaining -= activity.steps
            running.context += activity.steps
            running.energy_j += share
            if running.remaining > 0:
                still.append(running)
                continue
            job = running.job
            self._in_flight -= 1
            events.append(
                Finished(
                    job.id,
                    running.submitted_at,
                    running.started_at,
                    running.first_token_at,
                    activity.end,
                    running.energy_j,
                    job.output_tokens,
                )
            )
        self._running = still
