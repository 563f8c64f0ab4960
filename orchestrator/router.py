"""The live router: ask the policy for a plan, forward each step over gRPC, escalate on refusal.

Every accepted request ends in exactly one `Outcome`. Routing runs as its own task, so a client
that disconnects does not abandon a request half-way; a retry with the same request id in the
same run (while in flight or after) gets that same outcome instead of a second execution. The
run (InferRequest.run, "" by default) scopes ids: `edgetier load` replays a scenario's own ids
in a new run each time, so a second replay runs again instead of being answered from memory.
Calls to agents carry the remaining deadline; modelled network time becomes a real wait scaled
by `time_scale`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import grpc

from edgetier.v1 import agent_pb2
from npu_sim.quality import QualityModel
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.registry import Agent, Registry
from routing.answers import answer_quality
from routing.cluster import Cluster
from routing.escalation import Escalator, NodeResult, Outcome, attempt_limit_s
from routing.policy import Policy, Step
from routing.refusals import reason_for_status
from routing.request import Request

REMEMBERED_OUTCOMES = 10_000

TokenSink = Callable[[int, float], Awaitable[None]]


class Router:
    def __init__(
        self,
        cluster: Cluster,
        registry: Registry,
        metrics: OrchestratorMetrics,
        policies: dict[str, Policy],
        time_scale: float = 1.0,
        attempt_floor_s: float = 2.0,
        quality: QualityModel | None = None,
    ) -> None:
        self.cluster = cluster
        self.quality = quality  # the answers' quality (for the metric), with the --seed
        self.attempt_floor_s = attempt_floor_s
        self.registry = registry
        self.metrics = metrics
        self.time_scale = time_scale
        self.policies = policies  # by label: what requests may name (loaded at start)
        self._running: dict[tuple[str, str], asyncio.Task[Outcome]] = {}  # by (run, id)
        self._finished: OrderedDict[tuple[str, str], Outcome] = OrderedDict()

    async def route(
        self,
        request: Request,
        policy: str,
        timeout_s: float,
        tokens: TokenSink | None = None,
        run: str = "",
    ) -> Outcome:
        """The one outcome of `request` (shared with any duplicate of its id in `run`)."""
        key = (run, request.id)
        done = self._finished.get(key)
        if done is not None:
            return done
        task = self._running.get(key)
        if task is None:
            deadline = asyncio.get_running_loop().time() + timeout_s
            task = asyncio.create_task(
                self._route(request, self.policies[policy], deadline, tokens, run)
            )
            self._running[key] = task
            task.add_done_callback(lambda t: self._remember(key, t))
        return await asyncio.shield(task)

    def _remember(self, key: tuple[str, str], task: asyncio.Task[Outcome]) -> None:
        self._running.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self._finished[key] = task.result()
            while len(self._finished) > REMEMBERED_OUTCOMES:
                self._finished.popitem(last=False)

    async def _route(
        self, request: Request, policy: Policy, deadline: float, tokens: TokenSink | None, run: str
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        plan = policy.decide(request, self.cluster)
        models = {step.model: self.cluster.model(step.model) for step in plan}
        walk = Escalator(request, plan, self.cluster.network, models)
        sent = [0]  # tokens already streamed: a retry elsewhere resumes after them
        while (step := walk.next_step()) is not None:
            node = self.cluster.node(step.node or "")
            agent = self.registry.agent_of(step.node or "")
            if node is None or not node.up or agent is None:
                walk.refused("unavailable")
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                walk.refused("timeout")
                continue
            predicted = self.cluster.estimate(node, request, step.model).latency_s
            attempt_s = min(
                remaining, attempt_limit_s(predicted, self.attempt_floor_s, self.time_scale)
            )
            transfer = self.cluster.network.transfer(
                step.tier, models[step.model], request.prompt_tokens, request.output_tokens
            )
            if self.time_scale > 0 and transfer.seconds > 0:
                await asyncio.sleep(min(transfer.seconds * self.time_scale, remaining))
            node.in_flight += 1
            try:
                stream = tokens if step.min_confidence is None else None
                offset = walk.elapsed_s + transfer.seconds
                timeout = min(attempt_s, deadline - loop.time())
                reply = await self._run(agent, request, run, step, timeout, stream, offset, sent)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    self.registry.connection_failed(node.id)
                elif error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    self.cluster.timed_out(node)
                walk.refused(reason_for_status(error.code().name))
                continue
            finally:
                node.in_flight = max(0, node.in_flight - 1)
            self.cluster.observe(node, request, step.model, reply.latency_s - reply.queue_s)
            result = NodeResult(reply.ttft_s, reply.latency_s, reply.energy_j, reply.output_tokens)
            confidence = (
                policy.confidence(request, step.model) if step.min_confidence is not None else 1.0
            )
            if walk.answered(result, confidence):
                break
        outcome = walk.outcome
        self.metrics.record(outcome)
        answer = answer_quality(self.quality, request, outcome) if self.quality else None
        if answer is not None:
            self.metrics.answered(outcome, answer)
        return outcome

    async def _run(
        self,
        agent: Agent,
        request: Request,
        run: str,
        step: Step,
        timeout_s: float,
        tokens: TokenSink | None,
        offset_s: float,
        sent: list[int],
    ) -> agent_pb2.RunReply:
        """One call to an agent (streaming when a token sink is given)."""
        run = agent_pb2.RunRequest(
            node=step.node,
            # The agent's idempotency key: a cascade's two models are two runs, and a
            # request id in another run another request.
            request_id=f"{run}/{request.id}:{step.model}" if run else f"{request.id}:{step.model}",
            model=step.model,
            prompt_tokens=request.prompt_tokens,
            output_tokens=request.output_tokens,
        )
        if tokens is None:
            return await agent.stub.Run(run, timeout=max(timeout_s, 0.001))
        call = agent.stub.RunStream(run, timeout=max(timeout_s, 0.001))
        async for message in call:
            if message.HasField("summary"):
                return message.summary
            if message.token.index >= sent[0]:
                await tokens(message.token.index, offset_s + message.token.time_s)
                sent[0] = message.token.index + 1
        raise grpc.aio.AioRpcError(  # the agent closed the stream without a summary
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="stream ended without a summary",
        )
