"""Faults and overload lose nothing: every request gets exactly one final answer, success or a
documented error, while agents crash, the cloud link drops, the orchestrator restarts or the
fleet is offered ten times what it can take. Real processes on loopback."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from deploy.config import AgentConfig
from deploy.local import LocalStack, agent_args, first_json_line
from edgetier.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.client import OrchestratorClient, reply_to_dict
from tests.live import metric_sum, scrape, small_stack, wait_for

pytestmark = pytest.mark.timeout(150)
FINAL_ERRORS = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}


def tier_states(client: OrchestratorClient, tier: str) -> set[str]:
    return {n["state"] for n in client.nodes() if n["tier"] == tier}


@contextlib.contextmanager
def edgetier_processes() -> Iterator[Callable[..., dict[str, Any]]]:
    """`start(*args)` runs `edgetier ARGS` and returns its listening line (plus its pid); every
    process started is stopped (SIGTERM, then reaped) when the block ends."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> dict[str, Any]:
        process = subprocess.Popen(
            [sys.executable, "-m", "edgetier", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(process)
        ready = first_json_line(process.stdout, 30)  # type: ignore[arg-type]
        assert ready, f"edgetier {args[0]} did not start"
        return {**ready, "pid": process.pid}

    try:
        yield start
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)


async def offer(
    address: str,
    requests: list[orchestrator_pb2.InferRequest],
    concurrency: int,
    during: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Send every request once (at `concurrency`); returns request id -> reply or status code.
    `during(answered)` is called after each answer (to inject a fault mid-run)."""
    answers: dict[str, object] = {}
    pending = iter(requests)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)

        async def worker() -> None:
            for request in pending:
                try:
                    answer: object = await stub.Infer(request, timeout=60)
                except grpc.aio.AioRpcError as error:
                    answer = error.code()
                assert request.request_id not in answers, "two answers to one request"
                answers[request.request_id] = answer
                if during is not None:
                    during(len(answers))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def test_an_agent_killed_under_load_loses_no_request_and_comes_back(tmp_path: Path) -> None:
    config = small_stack(time_scale=0.01)
    with (
        LocalStack(config, port=0, log_dir=tmp_path) as stack,
        OrchestratorClient(stack.address, timeout_s=60) as client,
    ):
        edge = next(c for c in stack.children if c.name == "edge")
        requests = [
            orchestrator_pb2.InferRequest(
                model="qwen2.5-7b" if i % 2 else "qwen2.5-0.5b",
                prompt_tokens=32,
                max_tokens=16,
                request_id=f"load-{i}",
                client_node=f"dev-{i % 3}",
            )
            for i in range(2000)
        ]

        def kill_edge(answered: int) -> None:
            if answered == 500 and edge.process.poll() is None:
                edge.process.kill()

        answers = asyncio.run(offer(stack.address, requests, 64, kill_edge))
        assert edge.process.poll() is not None, "the edge agent was killed mid-run"
        assert set(answers) == {r.request_id for r in requests}  # exactly one answer each
        codes = collections.Counter(a for a in answers.values() if isinstance(a, grpc.StatusCode))
        assert set(codes) <= FINAL_ERRORS, codes
        served = [reply_to_dict(a) for a in answers.values() if not isinstance(a, grpc.StatusCode)]
        assert len(served) > len(requests) // 2
        # Nothing ran twice to completion: each survivor completed exactly what it answered.
        for child in stack.children[1:]:
            if child.name == "edge":
                continue
            completed = metric_sum(
                scrape(child.ready["metrics"]), "edgetier_agent_requests_total", outcome="ok"
            )
            replied = sum(1 for r in served if r["agent"] == child.name)
            assert completed == replied
        wait_for(lambda: tier_states(client, "edge") == {"down"}, "edge nodes marked down", 15)
        assert client.infer("qwen2.5-7b", prompt_tokens=16, max_tokens=4)["tier"] == "cloud"

        stack.restart_agent("edge")  # the same agent comes back and re-registers
        wait_for(lambda: tier_states(client, "edge") == {"up"}, "edge back up", 30)
        reply = client.infer("qwen2.5-7b", prompt_tokens=16, max_tokens=4, policy="edge-only")
        assert reply["tier"] == "edge"


def test_cloud_outage_keeps_small_models_served_and_fails_large_ones_fast(tmp_path: Path) -> None:
    with (
        LocalStack(small_stack(time_scale=0.01), port=0, log_dir=tmp_path) as stack,
        OrchestratorClient(stack.address, timeout_s=10) as client,
    ):
        cloud = next(c for c in stack.children if c.name == "cloud")
        cloud.process.send_signal(signal.SIGTERM)  # the cloud link drops
        assert cloud.process.wait(timeout=30) == 0
        wait_for(lambda: tier_states(client, "cloud") == {"down"}, "cloud nodes down", 15)
        assert (
            client.infer("qwen2.5-0.5b", prompt_tokens=8, max_tokens=4, client_node="dev-0")["tier"]
            == "device"
        )
        assert client.infer("qwen2.5-7b", prompt_tokens=8, max_tokens=4)["tier"] == "edge"
        with pytest.raises(grpc.RpcError) as caught:  # within the client's 10 s: not a timeout
            client.infer("llama3.1-70b", prompt_tokens=8, max_tokens=4)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "cloud" in caught.value.details() and "does_not_fit" in caught.value.details()
        metrics = scrape(stack.orchestrator.ready["metrics"])
        assert (
            metric_sum(
                metrics, "edgetier_requests_total", model="llama3.1-70b", outcome="unavailable"
            )
            == 1
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_orchestrator_restart_agents_reregister_by_themselves(tmp_path: Path) -> None:
    port = _free_port()
    with LocalStack(small_stack(time_scale=0.01), port=port, log_dir=tmp_path) as stack:
        agents = [c.process.pid for c in stack.children[1:]]
        first = stack.orchestrator.process
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        with (
            OrchestratorClient(stack.address, timeout_s=5) as client,
            pytest.raises(grpc.RpcError) as caught,
        ):
            client.infer("qwen2.5-0.5b", prompt_tokens=8, max_tokens=2)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # the gap
        with edgetier_processes() as start:
            start("orchestrator", "--port", str(port), "--time-scale", "0.01")
            with OrchestratorClient(stack.address, timeout_s=30) as client:
                wait_for(lambda: len(client.nodes()) == stack.config.node_count, "re-registration")
                reply = client.infer("llama3.1-70b", prompt_tokens=8, max_tokens=2)
            assert reply["tier"] == "cloud"
            assert [c.process.pid for c in stack.children[1:]] == agents
            assert all(c.process.poll() is None for c in stack.children[1:])


def test_sigterm_lets_in_flight_requests_finish_then_exits_0(tmp_path: Path) -> None:
    with LocalStack(small_stack(time_scale=0.2), port=0, log_dir=tmp_path) as stack:
        results: list[object] = []

        def long_request() -> None:
            with OrchestratorClient(stack.address, timeout_s=60) as client:
                try:
                    results.append(
                        client.infer(
                            "qwen2.5-0.5b", prompt_tokens=64, max_tokens=24, client_node="dev-0"
                        )
                    )
                except grpc.RpcError as error:
                    results.append(error.code())

        thread = threading.Thread(target=long_request)
        thread.start()
        with OrchestratorClient(stack.address, timeout_s=10) as client:
            wait_for(lambda: any(n["in_flight"] for n in client.nodes()), "request in flight", 20)
        agent = next(c for c in stack.children if c.name == "dev")
        agent.process.send_signal(signal.SIGTERM)
        stack.orchestrator.process.send_signal(signal.SIGTERM)
        thread.join(timeout=60)
        assert isinstance(results[0], dict) and results[0]["output_tokens"] == 24
        assert agent.process.wait(timeout=30) == 0
        assert stack.orchestrator.process.wait(timeout=30) == 0


def test_a_slow_node_is_avoided_and_its_timeouts_become_escalations(tmp_path: Path) -> None:
    """The only edge node runs 10x slower than modelled: the first attempt there times out and
    escalates to the cloud (no client error), and the orchestrator learns the slowdown (the
    next requests go to the cloud directly); once a healthy edge node registers, energy-aware
    routing sends the edge work there, never to the slow one."""
    scale = 0.5
    slow = AgentConfig("edge", "ax650n", {"qwen2.5-0.5b": "w8a16"}, name="slow")
    fast = AgentConfig("edge", "ax650n", {"qwen2.5-0.5b": "w8a16"}, name="fast")
    cloud = AgentConfig("cloud", "h100-pcie-80g", {"qwen2.5-0.5b": "fp16"}, name="cloud")
    with edgetier_processes() as start:
        address = start(
            "orchestrator",
            "--port",
            "0",
            "--time-scale",
            str(scale),
            "--attempt-timeout-floor",
            "1.0",
            "--policy",
            "energy-aware",
        )["grpc"]
        start(*agent_args(slow, address, scale, "127.0.0.1"), "--slowdown", "slow-0=10")
        start(*agent_args(cloud, address, scale, "127.0.0.1"))
        with OrchestratorClient(address, timeout_s=60) as client:

            def ask() -> dict[str, Any]:
                return client.infer("qwen2.5-0.5b", prompt_tokens=64, max_tokens=8, slo_ms=3000)

            wait_for(lambda: len(client.nodes()) == 2, "registration")
            while_slow = [ask() for _ in range(3)]
            start(*agent_args(fast, address, scale, "127.0.0.1"))
            wait_for(lambda: len(client.nodes()) == 3, "registration of the healthy edge node")
            after = [ask() for _ in range(8)]
    paths = [
        (r["node"], [(e["from_node"], e["reason"]) for e in r["escalations"]]) for r in while_slow
    ]
    assert all(reply["tier"] == "cloud" for reply in while_slow), paths  # no client error
    first = [(e["from_node"], e["reason"]) for e in while_slow[0]["escalations"]]
    assert first == [("slow-0", "timeout")], paths  # tried, timed out, escalated
    assert [r["node"] for r in after] == ["fast-0"] * 8  # learnt: the slow node is avoided


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_ten_times_the_fleets_capacity_is_refused_fast_and_memory_stays_flat(
    tmp_path: Path,
) -> None:
    """2 phones with queues of 2 hold 6 requests; 64 clients keep offering for a few seconds."""
    phones = AgentConfig(
        "device", "ax630c", {"qwen2.5-0.5b": "w8a16"}, nodes=2, queue_capacity=2, name="dev"
    )
    with edgetier_processes() as start:
        ready = start(
            "orchestrator",
            "--port",
            "0",
            "--time-scale",
            "0.05",
            "--max-in-flight",
            "48",
            "--max-in-flight-per-client",
            "32",
        )
        address = ready["grpc"]
        start(*agent_args(phones, address, 0.05, "127.0.0.1"))
        with OrchestratorClient(address, timeout_s=10) as client:
            wait_for(lambda: len(client.nodes()) == 2, "registration")

        def burst(tag: str) -> dict[str, object]:
            requests = [
                orchestrator_pb2.InferRequest(
                    model="qwen2.5-0.5b", prompt_tokens=16, max_tokens=16, request_id=f"{tag}-{i}"
                )
                for i in range(600)
            ]
            return asyncio.run(offer(address, requests, 64))

        burst("warm")
        before = _rss_bytes(ready["pid"])
        answers = {**burst("a"), **burst("b")}
        after = _rss_bytes(ready["pid"])
        assert len(answers) == 1200
        codes = collections.Counter(
            a if isinstance(a, grpc.StatusCode) else grpc.StatusCode.OK for a in answers.values()
        )
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        assert codes[grpc.StatusCode.OK] > 0 and codes[grpc.StatusCode.RESOURCE_EXHAUSTED] > 600
        assert after - before < 32 * 2**20, (before, after)
