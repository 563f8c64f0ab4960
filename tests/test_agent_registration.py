"""The agent's side of the orchestrator protocol, against a stand-in orchestrator (a real gRPC
server on 127.0.0.1 that records what agents send). Agents run in-process via `serve()`, with
short retry settings so that outages play out in a fraction of a second."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import grpc
import pytest

from device_agent.config import AgentSettings, default_token
from device_agent.server import AgentServer, serve
from edgetier.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
)

TOKEN = "test-token"


@dataclass
class FakeOrchestrator(orchestrator_pb2_grpc.OrchestratorServicer):
    """Records Register and Heartbeat calls; answers known=false when told to forget."""

    token: str = TOKEN
    interval_s: float = 0.05
    registers: list[tuple[orchestrator_pb2.RegisterRequest, dict[str, str]]] = field(
        default_factory=list
    )
    heartbeats: list[orchestrator_pb2.HeartbeatRequest] = field(default_factory=list)
    rejected: int = 0
    forget_next: bool = False

    async def _check(self, context: grpc.aio.ServicerContext) -> dict[str, str]:
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        if metadata.get("authorization") != f"Bearer {self.token}":
            self.rejected += 1
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization: wrong token")
        return metadata

    async def Register(
        self, request: orchestrator_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.RegisterReply:
        metadata = await self._check(context)
        self.registers.append((request, metadata))
        return orchestrator_pb2.RegisterReply(heartbeat_interval_s=self.interval_s)

    async def Heartbeat(
        self, request: orchestrator_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.HeartbeatReply:
        await self._check(context)
        self.heartbeats.append(request)
        known, self.forget_next = not self.forget_next, False
        return orchestrator_pb2.HeartbeatReply(known=known)


async def start_fake(fake: FakeOrchestrator, port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(fake, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


def settings(orchestrator: str, **overrides: object) -> AgentSettings:
    base = AgentSettings(
        name="reg",
        tier="device",
        hardware="ax630c",
        models={"qwen2-0.5b": "w8a16", "yolov8s": "w8a8"},
        nodes=2,
        time_scale=0.01,
        orchestrator=orchestrator,
        token=TOKEN,
        rpc_timeout_s=2.0,
        retry_initial_s=0.05,
        retry_cap_s=0.2,
        unauthenticated_retry_s=0.1,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` every 10 ms for at most `timeout` real seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def run_with_agent(
    agent_settings: AgentSettings, body: Callable[[AgentServer], Awaitable[None]]
) -> None:
    async def main() -> None:
        agent = await serve(agent_settings)
        try:
            await body(agent)
        finally:
            await agent.stop(grace=0)

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_registers_with_token_and_addresses_then_heartbeats_and_reregisters() -> None:
    async def main() -> None:
        fake = FakeOrchestrator()
        server, port = await start_fake(fake)
        agent = await serve(settings(f"127.0.0.1:{port}"))
        try:
            await until(lambda: len(fake.heartbeats) >= 3)
            request, metadata = fake.registers[0]
            assert metadata["authorization"] == f"Bearer {TOKEN}"
            assert request.agent == "reg"
            assert request.address == agent.grpc_address
            assert request.metrics_url == agent.metrics_url
            assert [n.id for n in request.nodes] == ["reg-0", "reg-1"]
            node = request.nodes[0]
            assert node.tier == common_pb2.TIER_DEVICE and node.hardware == "ax630c"
            assert node.state == "up" and node.queue_capacity == 16 and node.max_batch == 1
            assert {(m.id, m.precision) for m in node.models} == {
                ("qwen2-0.5b", "w8a16"),
                ("yolov8s", "w8a8"),
            }
            beat = fake.heartbeats[-1]
            assert beat.agent == "reg" and [n.id for n in beat.nodes] == ["reg-0", "reg-1"]
            assert beat.nodes[0].energy_j > 0  # live telemetry: idle energy grows

            # The orchestrator restarted and forgot us: the agent registers again.
            fake.forget_next = True
            await until(lambda: len(fake.registers) >= 2)
            await until(lambda: len(fake.heartbeats) >= 6)
            assert len(fake.registers) == 2
        finally:
            await agent.stop(grace=0)
            await server.stop(None)

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.timeout(60)
def test_an_unreachable_orchestrator_is_retried_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="device_agent")
    port = _free_port()

    async def body(agent: AgentServer) -> None:
        registrar = agent.registrar
        assert registrar is not None
        await asyncio.sleep(0.6)  # several retries at 0.05 .. 0.2 s
        # Still serving meanwhile.
        async with grpc.aio.insecure_channel(agent.grpc_address) as channel:
            stub = agent_pb2_grpc.DeviceAgentStub(channel)
            reply = await stub.Describe(agent_pb2.DescribeRequest(), timeout=5)
            assert len(reply.nodes) == 2
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
        assert f"127.0.0.1:{port}" in warnings[0].getMessage()
        assert not registrar.registered

        fake = FakeOrchestrator()
        server, _ = await start_fake(fake, port)
        try:
            await until(lambda: len(fake.registers) >= 1 and len(fake.heartbeats) >= 1)
            assert any("reachable again" in r.getMessage() for r in caplog.records)
        finally:
            await server.stop(None)

    run_with_agent(settings(f"127.0.0.1:{port}"), body)


@pytest.mark.timeout(60)
def test_a_wrong_token_is_logged_clearly_and_retried_slowly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="device_agent")

    async def main() -> None:
        fake = FakeOrchestrator(token="the-right-one")
        server, port = await start_fake(fake)
        agent = await serve(settings(f"127.0.0.1:{port}"))
        try:
            await until(lambda: fake.rejected >= 3)
            errors = [r for r in caplog.records if "UNAUTHENTICATED" in r.getMessage()]
            assert len(errors) == 1 and errors[0].levelno == logging.ERROR
            assert "--token" in errors[0].getMessage()
            assert TOKEN not in errors[0].getMessage()  # no secrets in logs
            assert not fake.registers
        finally:
            await agent.stop(grace=0)
            await server.stop(None)

    asyncio.run(main())


def test_no_register_contacts_no_orchestrator() -> None:
    async def body(agent: AgentServer) -> None:
        assert agent.registrar is None

    run_with_agent(settings(f"127.0.0.1:{_free_port()}", register=False), body)


def test_the_token_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGETIER_AGENT_TOKEN", "from-env")
    assert default_token() == "from-env"
    monkeypatch.delenv("EDGETIER_AGENT_TOKEN")
    assert default_token() == "edgetier-dev-token"
    assert "from-env" not in repr(settings("x", token="from-env"))
