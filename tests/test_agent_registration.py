"""The agent's side of the orchestrator protocol, against the real orchestrator on 127.0.0.1.
Both run in-process (`serve()`), with short heartbeat and retry settings so that outages and
restarts play out in a fraction of a second."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace

import grpc
import pytest

from device_agent.config import AgentSettings
from device_agent.server import AgentServer, serve
from edgetier.v1 import (
    agent_pb2,
    agent_pb2_grpc,
)
from edgetier.wire.auth import default_token
from orchestrator.server import OrchestratorServer, OrchestratorSettings
from orchestrator.server import serve as serve_orchestrator
from routing.groups import NodeGroup

TOKEN = "test-token"


async def start_orchestrator(token: str = TOKEN, port: int = 0) -> OrchestratorServer:
    """The real orchestrator, in-process on loopback, with fast heartbeats."""
    return await serve_orchestrator(
        OrchestratorSettings(
            port=port,
            agent_token=token,
            heartbeat_interval_s=0.05,
            heartbeat_timeout_s=1.0,
            time_scale=0.0,
        )
    )


def settings(orchestrator: str, **overrides: object) -> AgentSettings:
    base = AgentSettings(
        name="reg",
        group=NodeGroup(
            tier="device",
            hardware="ax630c",
            models={"qwen2-0.5b": "w8a16", "yolov8s": "w8a8"},
            nodes=2,
        ),
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
        orchestrator = await start_orchestrator()
        port = int(orchestrator.grpc_address.rsplit(":", 1)[1])
        agent = await serve(settings(orchestrator.grpc_address))
        try:
            registry, cluster = orchestrator.registry, orchestrator.cluster
            await until(lambda: "reg" in registry.agents)
            record = registry.agents["reg"]
            assert record.address == agent.grpc_address
            assert record.metrics_url == agent.metrics_url
            assert record.node_ids == ["reg-0", "reg-1"]
            node = cluster.node("reg-0")
            assert node is not None and node.tier == "device" and node.hardware.id == "ax630c"
            assert node.queue_capacity == 16 and node.max_batch == 1
            assert node.models == {"qwen2-0.5b": "w8a16", "yolov8s": "w8a8"}
            # Heartbeats carry live telemetry: idle energy grows.
            await until(lambda: node.energy_j > 0)

            # The orchestrator restarts and has forgotten the agent: it registers again.
            await orchestrator.stop(grace_s=0)
            orchestrator = await start_orchestrator(port=port)
            await until(lambda: "reg" in orchestrator.registry.agents)
            assert orchestrator.cluster.node("reg-1") is not None
        finally:
            await agent.stop(grace=0)
            await orchestrator.stop(grace_s=0)

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

        orchestrator = await start_orchestrator(port=port)
        try:
            await until(lambda: "reg" in orchestrator.registry.agents)
            await until(lambda: any("reachable again" in r.getMessage() for r in caplog.records))
        finally:
            await orchestrator.stop(grace_s=0)

    run_with_agent(settings(f"127.0.0.1:{port}"), body)


@pytest.mark.timeout(60)
def test_a_wrong_token_is_logged_clearly_and_retried_slowly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="device_agent")

    async def main() -> None:
        orchestrator = await start_orchestrator(token="the-right-one")
        agent = await serve(settings(orchestrator.grpc_address))
        try:
            await until(lambda: any("UNAUTHENTICATED" in r.getMessage() for r in caplog.records))
            await asyncio.sleep(0.5)  # several retries at 0.1 s: still logged only once
            errors = [r for r in caplog.records if "UNAUTHENTICATED" in r.getMessage()]
            assert len(errors) == 1 and errors[0].levelno == logging.ERROR
            assert "--token" in errors[0].getMessage()
            assert TOKEN not in errors[0].getMessage()  # no secrets in logs
            assert not orchestrator.registry.agents
        finally:
            await agent.stop(grace=0)
            await orchestrator.stop(grace_s=0)

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
