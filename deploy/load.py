"""`edgetier load`: a scenario's own workload replayed against a running stack, in scaled real
time, recorded the way fleetsim records a simulated run.

The requests are fleetsim's (`fleetsim.workload.arrivals`: same ids, origin devices, models,
token counts and SLOs, same seed), each sent at `start + arrival time x time_scale` to the
orchestrator's `Infer` with the policy to use. Each answer becomes a `routing.escalation.Outcome`
(`outcome_of`): a reply as the router produced it, a refusal (RESOURCE_EXHAUSTED, UNAVAILABLE,
DEADLINE_EXCEEDED, ...) as an unserved outcome whose reason starts with its status. The outcomes
go through fleetsim's `Recorder` to the same sinks a simulated run writes (requests.parquet, the
summary statistics), so live and simulated results have the same columns and compare row by
row. Every request sent gets exactly one record; the replay checks it.

Each request carries the scenario's own id (policies and the quality model draw their seeded
randomness from it, as in fleetsim) and the replay's run token (`InferRequest.run`): the
orchestrator answers a repeated id from memory only within one run, so replaying a scenario
again on the same stack runs it again.

Throughput: one worker process sends with grpc.aio, at most `max_in_flight` requests at once
(below the orchestrator's per-client bound, 1,024 by default); with `workers > 1` the requests
are dealt round-robin by index to that many processes (multiprocessing, spawn), which send
their shares on one shared schedule (CLOCK_MONOTONIC is the machine's, not the process's) and
stream their records back to this process in batches. How late the requests left against the
schedule is measured and reported: a generator that keeps up sends on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploy.processes import die_with_parent
from fleetsim.histogram import LogHistogram
from fleetsim.records import Recorder, Row, Sink
from fleetsim.runner import RunResult, summarise
from fleetsim.scenario import Scenario
from fleetsim.summary import PolicyStats
from fleetsim.workload import Arrival, arrivals, horizon_s
from npu_sim.catalog import default_catalog
from npu_sim.models import LLM
from npu_sim.predictor import default_predictor
from orchestrator.client import Answer, AsyncOrchestratorClient
from routing.escalation import Escalation, Outcome
from routing.policies import BUILTINS
from routing.request import Request
from routing.specs import PolicyError, PolicySpec

DEFAULT_MAX_IN_FLIGHT = 1000
"""Requests in flight at once, over all workers: under the orchestrator's default per-client
bound (1,024; all workers of one machine are one client to it), so the generator never
provokes RESOURCE_EXHAUSTED answers of its own."""
READY_TIMEOUT_S = 60.0
FLUSH_S = 0.1  # how often a worker sends its records back
START_DELAY_S = 0.3  # from "every worker is ready" to the first request


class LoadError(RuntimeError):
    """The replay could not run (a worker failed to start or died); the message says which."""


@dataclass(frozen=True)
class LoadOptions:
    """Where and how to send: the orchestrator, the clock, the generator's shape."""

    address: str
    time_scale: float = 1.0  # real seconds per modelled second, as the stack's --time-scale
    workers: int = 1
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    token: str | None = None  # the orchestrator's client bearer token, if it requires one
    tls_ca: Path | None = None
    timeout_s: float = 300.0  # real seconds a request may take before DEADLINE_EXCEEDED


@dataclass
class Tally:
    """Live counts for a progress display."""

    total: int | None
    sent: int = 0
    answered: int = 0
    slo_met: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by status name


@dataclass
class ReplayResult:
    """One policy's live run: its summary statistics and how well the generator kept up."""

    policy: PolicySpec
    stats: PolicyStats
    tally: Tally
    wall_s: float
    lateness: LogHistogram  # how late each request left against its schedule, seconds
    stopped: bool  # interrupted before the whole workload was sent

    @property
    def rate(self) -> float:
        """Requests answered per real second."""
        return self.tally.answered / self.wall_s if self.wall_s > 0 else 0.0

    def lateness_s(self, q: float) -> float:
        return self.lateness.quantile(q) if self.lateness.total else 0.0


def policy_spec(scenario: Scenario, label: str) -> PolicySpec:
    """The spec of the policy a request names by `label`: one of the scenario's policies, or a
    built-in; PolicyError otherwise (the summary's bound needs the policy itself)."""
    for spec in scenario.policies:
        if spec.label == label:
            return spec
    if label in BUILTINS:
        return PolicySpec(label)
    raise PolicyError(
        f"{label!r} is neither one of the scenario's policies ("
        + ", ".join(spec.label for spec in scenario.policies)
        + ") nor a built-in"
    )


def outcome_of(request: Request, answer: Answer) -> Outcome:
    """The `Outcome` the orchestrator's answer stands for (what its router produced): served
    with its tier, path, times and energy, or unserved with the status as its reason's start.
    A refusal carries no energy: the orchestrator does not report what failed attempts cost."""
    reply = answer.reply
    if reply is None:
        return Outcome(
            request_id=request.id,
            served=False,
            tier=None,
            node=None,
            model=request.model,
            escalations=(),
            ttft_s=0.0,
            latency_s=0.0,
            energy_j=0.0,
            network_s=0.0,
            network_energy_j=0.0,
            output_tokens=0,
            slo_met=None if request.slo_s is None else False,
            reason=f"{answer.status}: {answer.details}",
        )
    return Outcome(
        request_id=request.id,
        served=True,
        tier=reply["tier"],
        node=reply["node"],
        model=reply["model"],
        escalations=tuple(
            Escalation(
                e["from_tier"],
                None if e["to_tier"] == "none" else e["to_tier"],
                e["reason"],
                e["from_node"],
            )
            for e in reply["escalations"]
        ),
        ttft_s=reply["ttft_s"],
        latency_s=reply["latency_s"],
        energy_j=reply["energy_j"],
        network_s=reply["network_s"],
        network_energy_j=reply["network_energy_j"],
        output_tokens=reply["output_tokens"],
        slo_met=None if request.slo_s is None else bool(reply["slo_met"]),
    )


def replay(
    scenario: Scenario,
    policy: PolicySpec,
    options: LoadOptions,
    sinks: Sequence[Sink] = (),
    total: int | None = None,
    progress: Callable[[Tally], None] | None = None,
) -> ReplayResult:
    """Replay the scenario's workload under `policy` (a label the orchestrator loaded); every
    answer is recorded to `sinks` and the returned statistics. Ctrl-C ends the sending early;
    what was sent is still answered and recorded. Raises LoadError if a worker
    fails, or if a request sent has no record."""
    context = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC
    messages: Any = context.Queue()
    go, halt = context.Event(), context.Event()
    start = context.Value("d", 0.0)
    run = secrets.token_hex(4)
    workers = [
        context.Process(
            target=_work,
            args=(
                _Shard(scenario, policy.label, options, k, options.workers, run, os.getpid()),
                messages,
                start,
                go,
                halt,
            ),
            name=f"edgetier-load-{k}",
            daemon=True,
        )
        for k in range(options.workers)
    ]
    stats = PolicyStats(policy.label, horizon_s(scenario))
    recorder = Recorder(policy.label, [stats, *sinks])
    tally = Tally(total)
    lateness = LogHistogram()
    sent: dict[int, int] = {}
    done: set[int] = set()
    stopped = False
    for worker in workers:
        worker.start()
    try:
        _await_ready(workers, messages)
        start.value = time.monotonic() + START_DELAY_S
        began = start.value
        go.set()
        while len(done) < len(workers):
            try:
                message = messages.get(timeout=0.2)
            except queue.Empty:
                message = None
            except KeyboardInterrupt:
                halt.set()
                stopped = True
                continue
            if message is None:
                _check_alive(workers, done)
                continue
            kind, shard, count, payload = message
            sent[shard] = count
            tally.sent = sum(sent.values())
            if kind == "rows":
                for row in payload:
                    recorder(*row)
                    _count(tally, row)
            elif kind == "done":
                done.add(shard)
                lateness.counts += payload
            else:  # "error"
                raise LoadError(f"load worker {shard}: {payload}")
            if progress is not None:
                progress(tally)
        wall = time.monotonic() - began
        recorder.flush()
    finally:
        halt.set()
        go.set()  # a worker still waiting to start ends at once
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    if recorder.count != tally.sent:
        raise LoadError(f"{tally.sent} requests sent, {recorder.count} recorded")
    return ReplayResult(policy, stats, tally, wall, lateness, stopped)


def summarise_live(
    scenario: Scenario,
    results: Sequence[ReplayResult],
    out_dir: Path | None = None,
    records: Path | None = None,
    plots: bool = True,
) -> RunResult:
    """The summary rows (and, with `out_dir`, summary.csv and the plots) of live runs, with
    the bounds over the same requests: what `edgetier sim run` writes for simulated ones."""
    return summarise(
        scenario,
        scenario.seed,
        {result.policy.label: result.stats for result in results},
        [result.policy for result in results],
        default_predictor(),
        out_dir,
        records,
        plots,
    )


def _count(tally: Tally, row: Row) -> None:
    outcome = row[2]
    tally.answered += 1
    if outcome.served:
        tally.slo_met += outcome.slo_met is not False
    else:
        tally.failed[outcome.reason.split(":", 1)[0]] += 1


def _await_ready(workers: list[Any], messages: Any) -> None:
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(ready) < len(workers):
        try:
            kind, shard, _, payload = messages.get(timeout=0.2)
        except queue.Empty:
            if time.monotonic() > deadline:
                raise LoadError(f"load workers not ready after {READY_TIMEOUT_S:g}s") from None
            _check_alive(workers, ready)
            continue
        if kind == "error":
            raise LoadError(str(payload))
        ready.add(shard)


def _check_alive(workers: list[Any], finished: set[int]) -> None:
    """LoadError for a worker that failed (one that exited 0 has its last message queued)."""
    for k, worker in enumerate(workers):
        if k not in finished and worker.exitcode not in (None, 0):
            raise LoadError(
                f"load worker {k} exited (status {worker.exitcode}) before reporting all its "
                "requests: records would be missing"
            )


# -- in each worker process ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Shard:
    """What one worker sends: every `shards`-th request from `shard` on."""

    scenario: Scenario
    policy: str
    options: LoadOptions
    shard: int
    shards: int
    run: str  # the replay's token: the orchestrator's idempotency scope
    parent: int


def _work(job: _Shard, messages: Any, start: Any, go: Any, halt: Any) -> None:
    """A worker's main: dies with the replaying process, leaves Ctrl-C to it (which stops the
    sending through `halt`, so that what was sent is still answered and recorded)."""
    die_with_parent(job.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_send(job, messages, start, go, halt))
    except Exception as exc:  # report it, then exit non-zero: the parent says which worker
        messages.put(("error", job.shard, 0, f"{type(exc).__name__}: {exc}"))
        raise


async def _send(job: _Shard, messages: Any, start: Any, go: Any, halt: Any) -> None:
    options = job.options
    client = AsyncOrchestratorClient(
        options.address, options.token, options.timeout_s, options.tls_ca
    )
    window = asyncio.Semaphore(max(1, options.max_in_flight // job.shards))
    rows: list[Row] = []
    lateness: list[float] = []
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    llms = {m.id for m in default_catalog().models_by_id.values() if isinstance(m, LLM)}

    async def one(arrival: Arrival) -> None:
        request = arrival.request
        fields: dict[str, Any] = {
            "request_id": request.id,
            "run": job.run,
            "client_node": request.origin or "",
            "policy": job.policy,
            "slo_ms": 0.0 if request.slo_s is None else request.slo_s * 1000,
        }
        if request.model in llms:
            fields["prompt_tokens"] = request.prompt_tokens
            fields["max_tokens"] = request.output_tokens
        try:
            answer = await client.infer(request.model, **fields)
        finally:
            window.release()
        rows.append((arrival.time, request, outcome_of(request, answer)))

    async def flush() -> None:
        nonlocal rows
        while True:
            await asyncio.sleep(FLUSH_S)
            if rows:
                batch, rows = rows, []
                messages.put(("rows", job.shard, sent, batch))

    try:
        await asyncio.wait_for(client.channel.channel_ready(), READY_TIMEOUT_S)
    except TimeoutError:
        raise LoadError(f"orchestrator {options.address} unreachable") from None
    messages.put(("ready", job.shard, 0, None))
    await asyncio.to_thread(go.wait)
    began = start.value
    flusher = asyncio.create_task(flush())
    for index, arrival in enumerate(arrivals(job.scenario)):
        if index % job.shards != job.shard:
            continue
        if halt.is_set():
            break
        due = began + arrival.time * options.time_scale
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await window.acquire()
        lateness.append(time.monotonic() - due)
        task = asyncio.create_task(one(arrival))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    while pending:
        await asyncio.gather(*pending)
    flusher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await flusher
    if rows:
        messages.put(("rows", job.shard, sent, rows))
    late = LogHistogram()
    late.add(np.maximum(np.asarray(lateness, dtype=float), 1e-6))
    messages.put(("done", job.shard, sent, late.counts))
    await client.close()
