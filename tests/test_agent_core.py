"""The agent's machinery in-process: the node driver on asyncio time, streaming under continuous
batching, client cancellation, graceful stop, the idempotency ledger. Real gRPC on 127.0.0.1
where a client is involved."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace

import grpc
import pytest

from device_agent.config import AgentSettings
from device_agent.ledger import Ledger
from device_agent.metrics import AgentMetrics
from device_agent.node_driver import NodeDriver, Ticket
from device_agent.server import AgentServer, serve
from edgetier.v1 import agent_pb2, agent_pb2_grpc
from npu_sim.engine import Job, NodeEngine, NodeSpec
from npu_sim.predictor import Predictor
from routing.groups import NodeGroup

GPU = AgentSettings(
    name="g",
    group=NodeGroup(
        tier="cloud", hardware="h100-pcie-80g", models={"qwen2.5-0.5b": "fp16"}, nodes=1
    ),
    time_scale=0.01,
    register=False,
)


def with_agent(
    settings: AgentSettings,
    body: Callable[[AgentServer, agent_pb2_grpc.DeviceAgentStub], Awaitable[None]],
) -> None:
    async def main() -> None:
        agent = await serve(settings)
        try:
            async with grpc.aio.insecure_channel(agent.grpc_address) as channel:
                await body(agent, agent_pb2_grpc.DeviceAgentStub(channel))
        finally:
            await agent.stop(grace=0)

    asyncio.run(main())


def ok_count(agent: AgentServer, model: str) -> float:
    value = agent.agent.metrics.registry.get_sample_value(
        "edgetier_agent_requests_total",
        {"tier": agent.settings.group.tier, "model": model, "outcome": "ok"},
    )
    return value or 0.0


@pytest.mark.timeout(60)
def test_concurrent_streams_on_a_batching_gpu_are_exact_and_ordered() -> None:
    async def body(agent: AgentServer, stub: agent_pb2_grpc.DeviceAgentStub) -> None:
        async def stream(n: int) -> list[agent_pb2.RunStreamMessage]:
            request = agent_pb2.RunRequest(
                node="g-0", model="qwen2.5-0.5b", prompt_tokens=200, output_tokens=n
            )
            return [m async for m in stub.RunStream(request, timeout=30)]

        sizes = [300, 120, 40, 2]
        results = await asyncio.gather(*(stream(n) for n in sizes))
        for n, messages in zip(sizes, results, strict=True):
            summary = messages[-1].summary
            tokens = [m.token for m in messages[:-1]]
            assert [t.index for t in tokens] == list(range(n)) and summary.output_tokens == n
            times = [t.time_s for t in tokens]
            assert times == sorted(times)
            assert times[0] == pytest.approx(summary.ttft_s)
            assert times[-1] == pytest.approx(summary.latency_s)

    with_agent(GPU, body)


@pytest.mark.timeout(60)
def test_a_cancelled_stream_still_finishes_its_request_once() -> None:
    async def body(agent: AgentServer, stub: agent_pb2_grpc.DeviceAgentStub) -> None:
        before = ok_count(agent, "qwen2.5-0.5b")
        request = agent_pb2.RunRequest(
            node="g-0", model="qwen2.5-0.5b", prompt_tokens=10, output_tokens=2000
        )
        call = stub.RunStream(request, timeout=30)
        async for message in call:
            assert message.token.index == 0
            break
        call.cancel()
        driver = agent.agent.nodes["g-0"]
        assert driver.in_flight == 1  # accepted: it carries on without its client
        await asyncio.wait_for(driver.drained(), timeout=30)
        assert ok_count(agent, "qwen2.5-0.5b") == before + 1

    with_agent(GPU, body)


@pytest.mark.timeout(60)
def test_graceful_stop_refuses_new_work_and_answers_what_it_accepted() -> None:
    async def main() -> None:
        agent = await serve(replace(GPU, time_scale=0.002))
        async with grpc.aio.insecure_channel(agent.grpc_address) as channel:
            stub = agent_pb2_grpc.DeviceAgentStub(channel)
            request = agent_pb2.RunRequest(
                node="g-0", model="qwen2.5-0.5b", prompt_tokens=10, output_tokens=3000
            )
            accepted = asyncio.ensure_future(stub.Run(request, timeout=30))
            await asyncio.wait_for(_until(lambda: agent.agent.in_flight == 1), 10)
            stopping = asyncio.ensure_future(agent.stop(grace=30))
            await asyncio.sleep(0)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Run(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in (refused.value.details() or "")
            described = await stub.Describe(agent_pb2.DescribeRequest(), timeout=10)
            assert described.nodes[0].state == "down"
            reply = await accepted
            assert reply.output_tokens == 3000
            await stopping

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_the_grace_period_bounds_a_stop() -> None:
    async def main() -> None:
        agent = await serve(replace(GPU, time_scale=1.0))
        async with grpc.aio.insecure_channel(agent.grpc_address) as channel:
            stub = agent_pb2_grpc.DeviceAgentStub(channel)
            request = agent_pb2.RunRequest(  # about two modelled (= real) minutes
                node="g-0", model="qwen2.5-0.5b", prompt_tokens=10, output_tokens=30000
            )
            accepted = asyncio.ensure_future(stub.Run(request, timeout=30))
            await asyncio.wait_for(_until(lambda: agent.agent.in_flight == 1), 10)
            await asyncio.wait_for(agent.stop(grace=0.1), 20)
            with pytest.raises(grpc.aio.AioRpcError):
                await accepted

    asyncio.run(main())


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


@pytest.mark.timeout(60)
def test_the_driver_sleeps_between_events_rather_than_polling(predictor: Predictor) -> None:
    async def main() -> None:
        engine = NodeEngine(NodeSpec("n", "ax630c", {"qwen2-0.5b": "w8a16"}), predictor)
        advances = 0
        advance = engine.advance

        def counting(now: float) -> list:
            nonlocal advances
            advances += 1
            return advance(now)

        engine.advance = counting  # type: ignore[method-assign]
        driver = NodeDriver(engine, time_scale=0.05)
        driver.start()
        try:
            ticket = driver.submit(Job("a", "qwen2-0.5b", 128, 128), "a")  # ~0.64 s real
            assert isinstance(ticket, Ticket)
            await asyncio.sleep(0.3)  # mid-decode: one long epoch, no events due
            assert advances <= 6
            result = await asyncio.wait_for(ticket.done, 30)
            expected = predictor.predict("ax630c", "qwen2-0.5b", "w8a16", 128, 128)
            assert result.latency_s == pytest.approx(expected.latency_s)
            idle_w = engine.hardware.idle_w
            snapshot = driver.snapshot()  # energy includes idle time since the node started
            busy_extra = result.energy_j - idle_w * result.latency_s
            assert snapshot.energy_j == pytest.approx(idle_w * driver.now() + busy_extra, rel=1e-3)
        finally:
            await driver.close()

    asyncio.run(main())


def test_time_scale_zero_driver_jumps_to_events(predictor: Predictor) -> None:
    async def main() -> None:
        engine = NodeEngine(NodeSpec("n", "ax630c", {"qwen2-0.5b": "w8a16"}), predictor)
        driver = NodeDriver(engine, time_scale=0)
        driver.start()
        try:
            tickets = [driver.submit(Job(str(i), "qwen2-0.5b", 64, 64), str(i)) for i in range(3)]
            results = [await t.done for t in tickets if isinstance(t, Ticket)]
            assert len(results) == 3
            assert [r.queue_s for r in results] == sorted(r.queue_s for r in results)
            assert results[0].queue_s == 0 and results[2].queue_s > results[1].queue_s > 0
            assert math.isinf(engine.next_event_time()) and driver.in_flight == 0
        finally:
            await driver.close()

    asyncio.run(main())


def test_the_ledger_forgets_the_least_recently_used_ids() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        def ticket(request_id: str) -> Ticket:
            job = Job(request_id, "m")
            return Ticket(job, request_id, "n", 0.0, loop.create_future(), loop.create_future())

        ledger = Ledger(2)
        a, b, c = ticket("a"), ticket("b"), ticket("c")
        ledger.record(a)
        ledger.record(b)
        assert ledger.get("a") is a  # refreshes a: b is now the oldest
        ledger.record(c)
        assert ledger.get("b") is None and ledger.get("a") is a and ledger.get("c") is c
        ledger.record(ticket(""))  # no request id: nothing to remember
        assert len(ledger) == 2

    asyncio.run(main())


def test_model_labels_are_bounded() -> None:
    metrics = AgentMetrics("edge", ["qwen2-0.5b"])
    for junk in ("gpt-5", "x" * 200, ""):
        metrics.count(junk, "not_found")
    value = metrics.registry.get_sample_value(
        "edgetier_agent_requests_total",
        {"tier": "edge", "model": "other", "outcome": "not_found"},
    )
    assert value == 3
