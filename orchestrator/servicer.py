"""The gRPC face of the orchestrator: protobuf in, core calls, protobuf out. No routing logic.

Clients call Infer / InferStream / ListNodes (optionally with a bearer token); agents call
Register / Heartbeat with the shared agent token. Errors are standard status codes with a
message that names the field or the reason.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Sequence

import grpc

from edgetier.v1 import common_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from edgetier.wire.tiers import TIER_VALUES
from npu_sim.catalog import Catalog
from npu_sim.quality import QualityModel
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.registry import RegistrationError, Registry
from orchestrator.router import Router
from orchestrator.validation import InvalidRequest, parse_infer
from routing.answers import answer_quality
from routing.cluster import Cluster, NodeState
from routing.escalation import Outcome
from routing.request import Request


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServicer):
    def __init__(
        self,
        catalog: Catalog,
        cluster: Cluster,
        registry: Registry,
        router: Router,
        metrics: OrchestratorMetrics,
        default_policy: str,
        agent_token: str,
        client_tokens: Sequence[str],
        request_timeout_s: float,
        heartbeat_interval_s: float,
        limits: InFlightLimits,
        quality: QualityModel | None = None,
    ) -> None:
        self.catalog = catalog
        self.quality = quality
        self.cluster = cluster
        self.registry = registry
        self.router = router
        self.metrics = metrics
        self.default_policy = default_policy
        self.agent_token = agent_token
        self.client_tokens = tuple(client_tokens)
        self.request_timeout_s = request_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.limits = limits
        self.accepting = True

    # -- clients ---------------------------------------------------------------------------

    async def Infer(
        self, request: orchestrator_pb2.InferRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.InferReply:
        core, policy, run = await self._admit(request, context)
        with await self._slot(context):
            outcome = await self.router.route(core, policy, self._timeout(context), run=run)
        if not outcome.served:
            await context.abort(_unserved_code(outcome), outcome.reason)
        return self._reply(outcome, core, policy)

    async def InferStream(
        self, request: orchestrator_pb2.InferRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[orchestrator_pb2.InferStreamMessage]:
        core, policy, run = await self._admit(request, context)
        tokens: asyncio.Queue[orchestrator_pb2.StreamToken] = asyncio.Queue()

        async def sink(index: int, time_s: float) -> None:
            tokens.put_nowait(orchestrator_pb2.StreamToken(index=index, time_s=time_s))

        routing = asyncio.ensure_future(
            self.router.route(core, policy, self._timeout(context), sink, run)
        )
        while not routing.done() or not tokens.empty():
            if tokens.empty():
                waiting = asyncio.ensure_future(tokens.get())
                await asyncio.wait({waiting, routing}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    continue
                token = waiting.result()
            else:
                token = tokens.get_nowait()
            yield orchestrator_pb2.InferStreamMessage(token=token)
        outcome = routing.result()
        if not outcome.served:
            await context.abort(_unserved_code(outcome), outcome.reason)
        yield orchestrator_pb2.InferStreamMessage(summary=self._reply(outcome, core, policy))

    async def ListPolicies(
        self, request: orchestrator_pb2.ListPoliciesRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListPoliciesReply:
        await self._authorize_client(context)
        return orchestrator_pb2.ListPoliciesReply(
            policies=list(self.router.policies), default_policy=self.default_policy
        )

    async def ListNodes(
        self, request: orchestrator_pb2.ListNodesRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.ListNodesReply:
        await self._authorize_client(context)
        return orchestrator_pb2.ListNodesReply(nodes=[_node_info(n) for n in self.cluster.nodes()])

    # -- agents ----------------------------------------------------------------------------

    async def Register(
        self, request: orchestrator_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.RegisterReply:
        await self._authorize_agent(context)
        if not request.agent:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "agent: required")
        if not request.address:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "address: required")
        try:
            await self.registry.register(
                request.agent, request.address, request.metrics_url, list(request.nodes)
            )
        except RegistrationError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return orchestrator_pb2.RegisterReply(heartbeat_interval_s=self.heartbeat_interval_s)

    async def Heartbeat(
        self, request: orchestrator_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.HeartbeatReply:
        await self._authorize_agent(context)
        return orchestrator_pb2.HeartbeatReply(
            known=self.registry.heartbeat(request.agent, list(request.nodes))
        )

    # -- helpers ---------------------------------------------------------------------------

    def _reply(
        self, outcome: Outcome, request: Request, policy: str
    ) -> orchestrator_pb2.InferReply:
        node = self.cluster.node(outcome.node) if outcome.node else None
        answer = answer_quality(self.quality, request, outcome) if self.quality else None
        reply = orchestrator_pb2.InferReply(
            request_id=outcome.request_id,
            tier=TIER_VALUES[outcome.tier] if outcome.tier else common_pb2.TIER_UNSPECIFIED,
            node=outcome.node or "",
            agent=node.agent if node else "",
            model=outcome.model,
            escalations=[
                orchestrator_pb2.Escalation(
                    from_tier=TIER_VALUES[e.from_tier],
                    to_tier=TIER_VALUES[e.to_tier] if e.to_tier else common_pb2.TIER_UNSPECIFIED,
                    reason=e.reason,
                    from_node=e.from_node,
                )
                for e in outcome.escalations
            ],
            ttft_s=outcome.ttft_s,
            latency_s=outcome.latency_s,
            energy_j=outcome.energy_j,
            output_tokens=outcome.output_tokens,
            prompt_tokens=request.prompt_tokens,
            network_s=outcome.network_s,
            network_energy_j=outcome.network_energy_j,
            slo_met=outcome.slo_met,  # None: no SLO, the field stays absent
            policy=policy,
            task_family=request.task or "",
        )
        if answer is not None:
            reply.p_correct = answer.p_correct
            reply.correct = answer.correct
            reply.requested_p_correct = answer.requested_p_correct
        return reply

    async def _admit(
        self, request: orchestrator_pb2.InferRequest, context: grpc.aio.ServicerContext
    ) -> tuple[Request, str, str]:
        await self._authorize_client(context)
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the orchestrator is shutting down")
        try:
            return parse_infer(
                request, self.catalog, self.cluster, self.router.policies, self.default_policy
            )
        except InvalidRequest as exc:
            known = request.model in self.catalog.models_by_id
            self.metrics.rejected(request.model if known else "unknown", "invalid")
            await context.abort(exc.code, exc.message)
            raise  # unreachable: abort raises

    async def _slot(self, context: grpc.aio.ServicerContext) -> InFlightSlot:
        """Reserve one in-flight request for this client, or answer RESOURCE_EXHAUSTED at once
        (a bound on memory and on how much one client can take from the others)."""
        client = _bearer(context) or context.peer().rsplit(":", 1)[0]
        slot = self.limits.take(client)
        if slot is None:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many requests in flight (limits: {self.limits.per_client} per client, "
                f"{self.limits.total} in all); retry later",
            )
        return slot  # type: ignore[return-value]

    def _timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        return (
            self.request_timeout_s if remaining is None else min(remaining, self.request_timeout_s)
        )

    async def _authorize_agent(self, context: grpc.aio.ServicerContext) -> None:
        token = _bearer(context)
        if token is None or not hmac.compare_digest(token, self.agent_token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization: wrong agent token")

    async def _authorize_client(self, context: grpc.aio.ServicerContext) -> None:
        if not self.client_tokens:
            return
        token = _bearer(context)
        if token is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "authorization: a bearer token is required"
            )
        if not any(hmac.compare_digest(token, known) for known in self.client_tokens):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, "authorization: token not allowed"
            )


class InFlightLimits:
    """Bounds on requests being routed at once: in all, and per client (bearer token, else
    peer address)."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.in_flight = 0
        self._by_client: dict[str, int] = {}

    def take(self, client: str) -> InFlightSlot | None:
        mine = self._by_client.get(client, 0)
        if self.in_flight >= self.total or mine >= self.per_client:
            return None
        self.in_flight += 1
        self._by_client[client] = mine + 1
        return InFlightSlot(self, client)

    def release(self, client: str) -> None:
        self.in_flight -= 1
        left = self._by_client[client] - 1
        if left:
            self._by_client[client] = left
        else:
            del self._by_client[client]


class InFlightSlot:
    """One reserved request; released exactly once (context manager or `close`)."""

    def __init__(self, limits: InFlightLimits, client: str) -> None:
        self._limits: InFlightLimits | None = limits
        self._client = client

    def close(self) -> None:
        if self._limits is not None:
            self._limits.release(self._client)
            self._limits = None

    def __enter__(self) -> InFlightSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unserved_code(outcome: Outcome) -> grpc.StatusCode:
    return grpc.StatusCode[outcome.status]


def _bearer(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :]
    return None


def _node_info(node: NodeState) -> common_pb2.NodeInfo:
    return common_pb2.NodeInfo(
        id=node.id,
        agent=node.agent,
        tier=TIER_VALUES[node.tier],
        hardware=node.hardware.id,
        state="up" if node.up else "down",
        queue_depth=node.queue_depth,
        queue_capacity=node.queue_capacity,
        in_flight=node.in_flight,
        models=[
            common_pb2.ModelInfo(id=m, precision=p, resident=m in node.resident)
            for m, p in node.models.items()
        ],
        power_w=node.power_w,
        energy_j=node.energy_j,
        max_batch=node.max_batch,
    )
