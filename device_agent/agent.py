"""The agent's core, free of protobuf and sockets: its nodes, request validation, idempotency,
shutdown. The gRPC servicer is a thin translation of this; tests can drive it directly.

Every decision is made synchronously in `submit` (validate, look up the idempotency ledger,
offer the job to the node, record it), with no await in between, so two concurrent copies of a
request id cannot both run. Results come back through the ticket's futures, resolved by the
node's driver whether or not anyone still waits for them: an accepted request always finishes,
is counted and observed once, and its result stays in the ledger for a retry.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from device_agent.config import AgentSettings
from device_agent.ledger import Ledger
from device_agent.metrics import AgentMetrics
from device_agent.node_driver import NodeDriver, NodeSnapshot, RunResult, Ticket
from npu_sim.engine import Job, NodeEngine, NodeSpec
from npu_sim.models import LLM
from npu_sim.predictor import Predictor
from routing.refusals import NODE_REFUSALS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunCommand:
    """A request to run, as the transport hands it over (token counts may be 0: unset)."""

    node: str
    model: str
    request_id: str = ""
    prompt_tokens: int = 0
    output_tokens: int = 0


class RunError(Exception):
    """Why a request was not accepted: `refusal` (a key of `routing.refusals.NODE_REFUSALS`)
    picks the metric label and the status code, the message names the field at fault."""

    def __init__(self, refusal: str, message: str) -> None:
        super().__init__(message)
        self.refusal = NODE_REFUSALS[refusal]
        self.message = message


class Agent:
    """All nodes of one agent process. Create it inside the running event loop."""

    def __init__(
        self, settings: AgentSettings, predictor: Predictor, metrics: AgentMetrics
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.accepting = True
        self._ledger = Ledger(settings.dedupe_capacity)
        self._job_ids = itertools.count()
        t0 = asyncio.get_running_loop().time()  # one epoch for all nodes: comparable clocks
        self.nodes: dict[str, NodeDriver] = {}
        for node_id in settings.node_ids():
            spec = NodeSpec(
                node_id,
                settings.group.hardware,
                dict(settings.group.models),
                queue_capacity=settings.group.queue_capacity,
                max_batch=settings.group.max_batch,
                slowdown=settings.slowdown.get(node_id, 1.0),
            )
            engine = NodeEngine(spec, predictor)
            self.nodes[node_id] = NodeDriver(engine, settings.time_scale, t0, self._finished)

    @property
    def name(self) -> str:
        return self.settings.name

    def start(self) -> None:
        for driver in self.nodes.values():
            driver.start()

    async def close(self) -> None:
        for driver in self.nodes.values():
            await driver.close()

    # -- requests --------------------------------------------------------------------------

    def submit(self, command: RunCommand) -> Ticket:
        """Accept `command` (or find its earlier acceptance by request id) and return the
        ticket to await; raises RunError if it is refused."""
        try:
            return self._submit(command)
        except RunError as error:
            self.metrics.count(command.model, error.refusal.outcome)
            raise

    def _submit(self, command: RunCommand) -> Ticket:
        if not command.node:
            raise RunError("bad_request", "node: required")
        if not command.model:
            raise RunError("bad_request", "model: required")
        if command.request_id:
            earlier = self._ledger.get(command.request_id)
            if earlier is not None:
                return earlier
        if not self.accepting:
            raise RunError("shutting_down", f"agent {self.name} is shutting down")
        driver = self.nodes.get(command.node)
        if driver is None:
            raise RunError(
                "unknown_node",
                f"node: no node {command.node!r} on agent {self.name}; "
                f"nodes: {', '.join(self.nodes)}",
            )
        costs = driver.engine.costs(command.model)
        if costs is None:
            raise RunError(
                "unknown_model",
                f"model: node {command.node} does not serve {command.model!r}; "
                f"it serves: {', '.join(self.settings.group.models)}",
            )
        if isinstance(costs.model, LLM):
            job = Job(
                self._job_id(command),
                command.model,
                command.prompt_tokens,
                command.output_tokens,
            )
        else:  # a vision model runs one image; token counts do not apply
            job = Job(self._job_id(command), command.model)
        outcome = driver.submit(job, command.request_id)
        if not isinstance(outcome, Ticket):
            field = outcome.field or ("node" if outcome.reason == "queue_full" else "model")
            raise RunError(outcome.reason, f"{field}: {outcome.detail}")
        self._ledger.record(outcome)
        return outcome

    def _job_id(self, command: RunCommand) -> str:
        # Unique per agent even when clients reuse or omit request ids.
        return f"{next(self._job_ids)}:{command.request_id}"

    async def run(self, command: RunCommand) -> RunResult:
        """Submit and wait for the result; cancelling the wait does not cancel the request."""
        return await asyncio.shield(self.submit(command).done)

    def _finished(self, ticket: Ticket, result: RunResult) -> None:
        self.metrics.count(result.model, "ok")
        self.metrics.observe_run(result.model, result.latency_s)

    # -- state -----------------------------------------------------------------------------

    def describe(self) -> list[NodeSnapshot]:
        """Every node's live state, in node order."""
        return [driver.snapshot() for driver in self.nodes.values()]

    @property
    def in_flight(self) -> int:
        return sum(driver.in_flight for driver in self.nodes.values())

    def stop_accepting(self) -> None:
        """From now on a new request is UNAVAILABLE; accepted ones carry on."""
        self.accepting = False

    async def drain(self, timeout: float) -> bool:
        """Wait (at most `timeout` real seconds) until every accepted request has finished."""
        waits = [asyncio.ensure_future(driver.drained()) for driver in self.nodes.values()]
        try:
            _, pending = await asyncio.wait(waits, timeout=timeout)
        finally:
            for wait in waits:
                wait.cancel()
        return not pending
