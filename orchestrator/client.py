"""A small Python client for the orchestrator (used by the CLI, the demo, tests and benchmarks).

    with OrchestratorClient("127.0.0.1:50051") as client:
        reply = client.infer("qwen2.5-0.5b", prompt="Hello", max_tokens=32)
        print(reply["tier"], reply["latency_s"])

Replies are plain dicts with the documented JSON keys (`reply_to_dict`), errors are
`grpc.RpcError` with the server's status code and message. `AsyncOrchestratorClient` is the
asyncio flavour for many requests at once (`edgetier load`): there an error is an `Answer` like
a reply, so that a caller recording every request needs no gRPC of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from edgetier.v1 import common_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from edgetier.wire.tiers import TIER_NAMES

DEFAULT_ADDRESS = "127.0.0.1:50051"


def reply_to_dict(reply: orchestrator_pb2.InferReply) -> dict[str, Any]:
    """The reply as JSON-ready data, with the keys `edgetier infer --json` prints."""
    return {
        "request_id": reply.request_id,
        "tier": TIER_NAMES.get(reply.tier, "none"),
        "node": reply.node,
        "agent": reply.agent,
        "model": reply.model,
        "policy": reply.policy,
        "ttft_s": reply.ttft_s,
        "latency_s": reply.latency_s,
        "energy_j": reply.energy_j,
        "prompt_tokens": reply.prompt_tokens,
        "output_tokens": reply.output_tokens,
        "network_s": reply.network_s,
        "network_energy_j": reply.network_energy_j,
        "slo_met": reply.slo_met if reply.HasField("slo_met") else None,  # null: no SLO
        "task": reply.task_family or None,
        "p_correct": reply.p_correct if reply.HasField("p_correct") else None,
        "correct": reply.correct if reply.HasField("correct") else None,
        "requested_p_correct": (
            reply.requested_p_correct if reply.HasField("requested_p_correct") else None
        ),
        "escalations": [
            {
                "from_tier": TIER_NAMES.get(e.from_tier, "none"),
                "to_tier": TIER_NAMES.get(e.to_tier, "none"),
                "reason": e.reason,
                "from_node": e.from_node,
            }
            for e in reply.escalations
        ],
    }


def unreachable(error: grpc.RpcError) -> bool:
    """Whether a call failed because nothing answered at the address (no server there, a
    name that does not resolve), as opposed to an UNAVAILABLE the orchestrator itself sent."""
    details = error.details() or ""
    return error.code() == grpc.StatusCode.UNAVAILABLE and details.startswith(
        ("failed to connect to all addresses", "DNS resolution failed", "errors resolving")
    )


def node_to_dict(node: common_pb2.NodeInfo) -> dict[str, Any]:
    return {
        "id": node.id,
        "agent": node.agent,
        "tier": TIER_NAMES.get(node.tier, "none"),
        "hardware": node.hardware,
        "state": node.state,
        "queue_depth": node.queue_depth,
        "queue_capacity": node.queue_capacity,
        "in_flight": node.in_flight,
        "models": {m.id: {"precision": m.precision, "resident": m.resident} for m in node.models},
        "power_w": node.power_w,
        "energy_j": node.energy_j,
    }


def infer_request(
    model: str,
    prompt: str | None = None,
    prompt_tokens: int | None = None,
    max_tokens: int = 0,
    slo_ms: float = 0.0,
    policy: str = "",
    request_id: str = "",
    client_node: str = "",
    run: str = "",
    task: str = "",
) -> orchestrator_pb2.InferRequest:
    request = orchestrator_pb2.InferRequest(
        model=model,
        max_tokens=max_tokens,
        slo_ms=slo_ms,
        policy=policy,
        request_id=request_id,
        client_node=client_node,
        run=run,
        task_family=task,
    )
    if prompt is not None:
        request.prompt_text = prompt
    elif prompt_tokens is not None:
        request.prompt_tokens = prompt_tokens
    return request


def _channel_credentials(tls_ca: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())


class OrchestratorClient:
    """Blocking client; one channel, reused. `token` is sent as a bearer token if given;
    `tls_ca` (a CA certificate file) makes the channel TLS, verifying the orchestrator."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        token: str | None = None,
        timeout_s: float = 300.0,
        tls_ca: Path | None = None,
    ) -> None:
        if tls_ca is not None:
            self.channel = grpc.secure_channel(address, _channel_credentials(tls_ca))
        else:
            self.channel = grpc.insecure_channel(address)
        self.stub = orchestrator_pb2_grpc.OrchestratorStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout_s = timeout_s

    def infer(self, model: str, **fields: Any) -> dict[str, Any]:
        reply = self.stub.Infer(
            infer_request(model, **fields), timeout=self.timeout_s, metadata=self.metadata
        )
        return reply_to_dict(reply)

    def infer_stream(self, model: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """Yields {"token": index, "time_s": t} per token, then the summary dict."""
        call = self.stub.InferStream(
            infer_request(model, **fields), timeout=self.timeout_s, metadata=self.metadata
        )
        for message in call:
            if message.HasField("token"):
                yield {"token": message.token.index, "time_s": message.token.time_s}
            else:
                yield reply_to_dict(message.summary)

    def nodes(self) -> list[dict[str, Any]]:
        reply = self.stub.ListNodes(
            orchestrator_pb2.ListNodesRequest(), timeout=self.timeout_s, metadata=self.metadata
        )
        return [node_to_dict(n) for n in reply.nodes]

    def policies(self) -> tuple[list[str], str]:
        """The policies the orchestrator loaded (what a request may name), and its default."""
        reply = self.stub.ListPolicies(
            orchestrator_pb2.ListPoliciesRequest(), timeout=self.timeout_s, metadata=self.metadata
        )
        return list(reply.policies), reply.default_policy

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> OrchestratorClient:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()


@dataclass(frozen=True)
class Answer:
    """A request's one final answer: `status` "OK" with the `reply` (`reply_to_dict`'s keys),
    or a gRPC status code name (RESOURCE_EXHAUSTED, UNAVAILABLE, ...) with its `details`."""

    status: str
    reply: dict[str, Any] | None = None
    details: str = ""


class AsyncOrchestratorClient:
    """asyncio client over one channel, for many concurrent requests; `token` and `tls_ca` as
    OrchestratorClient's. `infer` never raises for a status the server (or the transport)
    answers: every request sent gets exactly one `Answer`."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        token: str | None = None,
        timeout_s: float = 300.0,
        tls_ca: Path | None = None,
    ) -> None:
        if tls_ca is not None:
            self.channel = grpc.aio.secure_channel(address, _channel_credentials(tls_ca))
        else:
            self.channel = grpc.aio.insecure_channel(address)
        self.stub = orchestrator_pb2_grpc.OrchestratorStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout_s = timeout_s

    async def infer(self, model: str, **fields: Any) -> Answer:
        try:
            reply = await self.stub.Infer(
                infer_request(model, **fields), timeout=self.timeout_s, metadata=self.metadata
            )
        except grpc.aio.AioRpcError as error:
            return Answer(error.code().name, None, error.details() or "")
        return Answer("OK", reply_to_dict(reply))

    async def close(self) -> None:
        await self.channel.close()
