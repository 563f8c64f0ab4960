"""Drives one `NodeEngine` on asyncio time and turns its events into per-request futures.

The engine is a pure core stepped by an explicit `now`; this is the shell that owns the clock.
With `time_scale` > 0 the node's virtual clock is `(loop.time() - t0) / time_scale`: a task
sleeps until the engine's next event (converted to loop time), advances the engine and resolves
the futures of the requests concerned; a submission wakes it early, since it may move the next
event closer (a request joining a decode batch cuts the running epoch). With `time_scale` 0 no
one waits: the task jumps the node's clock from event to event, yielding to the loop between
events so that concurrent submissions interleave.

Everything runs on the one event loop (the engine is not thread-safe), and nothing busy-loops:
the task is either sleeping on a timer, waiting to be woken, or stepping a due event.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from npu_sim.engine import Finished, FirstToken, Job, NodeEngine, Rejection

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished request as the agent reports it: modelled seconds since acceptance."""

    node: str
    request_id: str
    model: str
    queue_s: float  # waiting before the node started it (incl. a model load)
    ttft_s: float
    latency_s: float
    energy_j: float
    output_tokens: int


@dataclass(frozen=True, slots=True)
class ModelState:
    id: str
    precision: str
    resident: bool  # loaded in memory (else the next request pays the load time)


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """A node's live state at one instant of its virtual clock (Describe, heartbeats, scrapes)."""

    id: str
    hardware: str
    queue_depth: int
    queue_capacity: int
    max_batch: int  # requests decoded together (1 where the hardware does not batch)
    in_flight: int
    models: tuple[ModelState, ...]
    power_w: float
    energy_j: float  # since the node started, idle time included
    utilisation: float


@dataclass(eq=False)
class Ticket:
    """An accepted request: what its callers await. Exactly one `done` result follows."""

    job: Job
    request_id: str
    node: str
    submitted_at: float  # the node's virtual clock at acceptance
    first_token: asyncio.Future[float] = field(repr=False)  # seconds since acceptance
    done: asyncio.Future[RunResult] = field(repr=False)


class NodeDriver:
    """One node on asyncio time. Create it inside the running loop; `start` it, `close` it."""

    def __init__(
        self,
        engine: NodeEngine,
        time_scale: float,
        t0: float | None = None,
        on_done: Callable[[Ticket, RunResult], None] | None = None,
    ) -> None:
        self.engine = engine
        self.time_scale = time_scale
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time() if t0 is None else t0
        self._now = 0.0
        self._tickets: dict[str, Ticket] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._wakeup: asyncio.Future[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_done = on_done

    @property
    def id(self) -> str:
        return self.engine.spec.id

    @property
    def in_flight(self) -> int:
        """Accepted requests whose result has not been delivered yet."""
        return len(self._tickets)

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The node's virtual clock (never goes back)."""
        if self.time_scale > 0:
            self._now = max(self._now, (self._loop.time() - self._t0) / self.time_scale)
        return self._now

    def loop_time(self, virtual: float) -> float:
        """The loop time at which the virtual time `virtual` arrives (time_scale > 0)."""
        return self._t0 + virtual * self.time_scale

    def sync(self) -> None:
        """Bring the engine up to now and deliver what happened meanwhile, so a reader (Describe,
        a scrape, a stream) sees the node as it is, not as of its last timer."""
        self._deliver(self.engine.advance(self.now()))

    def snapshot(self) -> NodeSnapshot:
        """The node as it is now (after delivering any due events)."""
        self.sync()
        now = self.now()
        engine = self.engine
        resident = set(engine.resident_models)
        return NodeSnapshot(
            id=self.id,
            hardware=engine.hardware.id,
            queue_depth=engine.queue_depth,
            queue_capacity=engine.spec.queue_capacity,
            max_batch=engine.max_batch,
            in_flight=engine.in_flight,
            models=tuple(
                ModelState(model, precision, model in resident)
                for model, precision in engine.spec.models.items()
            ),
            power_w=engine.power_w(),
            energy_j=engine.energy_j(now),
            utilisation=engine.utilisation(now),
        )

    # -- requests --------------------------------------------------------------------------

    def submit(self, job: Job, request_id: str) -> Ticket | Rejection:
        """Offer `job` to the node now; a Ticket if accepted. Synchronous on purpose: callers
        check-and-record (idempotency) without an await in between."""
        now = self.now()
        self._deliver(self.engine.advance(now))  # the engine refuses a submit in its past
        rejection = self.engine.submit(job, now)
        if rejection is not None:
            return rejection
        ticket = Ticket(
            job,
            request_id,
            self.id,
            now,
            self._loop.create_future(),
            self._loop.create_future(),
        )
        self._tickets[job.id] = ticket
        self._idle.clear()
        self._wake()
        return ticket

    async def drained(self) -> None:
        """Return once no accepted request is left on the node."""
        await self._idle.wait()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name=f"node {self.id}")

    async def close(self) -> None:
        """Stop driving the node; requests still on it get no result (the caller drained first)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- internals -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self.time_scale > 0:
                self.sync()
                target = self.engine.next_event_time()
                if await self._sleep_until(target):
                    # The timer fired: the event is due, even if float rounding of the
                    # virtual <-> loop time conversion puts `now()` a hair before it.
                    self._now = max(self._now, target)
                    self.sync()
                continue
            target = self.engine.next_event_time()
            if math.isinf(target):
                await self._sleep_until(math.inf)
            else:
                self._now = max(self._now, target)
                self._deliver(self.engine.advance(self._now))
                await asyncio.sleep(0)  # let submissions and readers in between events

    async def _sleep_until(self, target: float) -> bool:
        """Wait for virtual time `target` (inf: until woken). True if it came, False if woken."""
        wakeup: asyncio.Future[bool] = self._loop.create_future()
        self._wakeup = wakeup
        timer = None
        if math.isfinite(target):
            timer = self._loop.call_at(self.loop_time(target), _resolve, wakeup, True)
        try:
            return await wakeup
        finally:
            if timer is not None:
                timer.cancel()
            self._wakeup = None

    def _wake(self) -> None:
        if self._wakeup is not None:
            _resolve(self._wakeup, False)

    def _deliver(self, events: list[FirstToken | Finished]) -> None:
        for event in events:
            ticket = self._tickets.get(event.job_id)
            if ticket is None:  # pragma: no cover - the engine only reports accepted jobs
                continue
            if isinstance(event, FirstToken):
                _resolve(ticket.first_token, event.time - ticket.submitted_at)
                continue
            del self._tickets[event.job_id]
            result = RunResult(
                node=self.id,
                request_id=ticket.request_id,
                model=ticket.job.model,
                queue_s=event.started_at - event.submitted_at,
                ttft_s=event.first_token_at - event.submitted_at,
                latency_s=event.done_at - event.submitted_at,
                energy_j=event.energy_j,
                output_tokens=event.output_tokens,
            )
            _resolve(ticket.first_token, result.ttft_s)
            _resolve(ticket.done, result)
            if self._on_done is not None:
                self._on_done(ticket, result)
        if not self._tickets:
            self._idle.set()


def _resolve(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)
