"""`edgetier bench overhead`: what the orchestrator costs on a request's path.

The same agent and the same requests (a small model at --time-scale 0, so no modelled compute
time: only the platform is measured), four ways in one run:
(a) client straight to the agent over gRPC;
(b) through a bare gRPC forwarder (bench/forwarder.py: raw bytes on, no parsing, no policy);
(c) through the orchestrator with its default policy;
(d) through Ray Serve doing the same routing: a deployment per tier calling the agent, and a
    router deployment calling them through deployment handles (needs the `bench` extra).
Requests/s at concurrency 1 and 64, p50 and p99 latency, and the ratios the targets are set in.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from deploy.config import AgentConfig, OrchestratorConfig, StackConfig
from deploy.local import LocalStack, first_json_line
from edgetier.argtypes import positive_int
from edgetier.bench import BenchResult
from edgetier.v1 import agent_pb2, agent_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc

MODEL = "qwen2.5-0.5b"
NODES = 8
PROMPT_TOKENS, OUTPUT_TOKENS = 32, 16


@dataclass(frozen=True)
class Stats:
    rps: float
    p50_s: float
    p99_s: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--requests", type=positive_int, default=3000, help="requests at concurrency 64"
    )
    parser.add_argument(
        "--serial-requests", type=positive_int, default=500, help="at concurrency 1"
    )
    parser.add_argument("--no-ray", action="store_true", help="skip Ray Serve (d)")


async def measure(call: Callable[[int], Awaitable[Any]], concurrency: int, total: int) -> Stats:
    for i in range(20):  # warm up channels and caches
        await call(-1 - i)
    latencies: list[float] = []
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < total:
            start = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return Stats(total / wall, cuts[49], cuts[98])


def _agent_caller(
    address: str, tag: str
) -> tuple[grpc.aio.Channel, Callable[[int], Awaitable[Any]]]:
    channel = grpc.aio.insecure_channel(address)
    stub = agent_pb2_grpc.DeviceAgentStub(channel)

    async def call(i: int) -> Any:
        return await stub.Run(
            agent_pb2.RunRequest(
                node=f"device-{i % NODES}",
                request_id=f"{tag}{i}",
                model=MODEL,
                prompt_tokens=PROMPT_TOKENS,
                output_tokens=OUTPUT_TOKENS,
            ),
            timeout=60,
        )

    return channel, call


def orchestrator_caller(address: str) -> tuple[grpc.aio.Channel, Callable[[int], Awaitable[Any]]]:
    channel = grpc.aio.insecure_channel(address)
    stub = orchestrator_pb2_grpc.OrchestratorStub(channel)

    async def call(i: int) -> Any:
        return await stub.Infer(
            orchestrator_pb2.InferRequest(
                model=MODEL,
                prompt_tokens=PROMPT_TOKENS,
                max_tokens=OUTPUT_TOKENS,
                request_id=f"o{i}",
            ),
            timeout=60,
        )

    return channel, call


async def _pair(
    make: Callable[[], tuple[grpc.aio.Channel, Callable[[int], Awaitable[Any]]]],
    args: argparse.Namespace,
) -> tuple[Stats, Stats]:
    channel, call = make()
    try:
        serial = await measure(call, 1, args.serial_requests)
        loaded = await measure(call, 64, args.requests)
    finally:
        await channel.close()
    return serial, loaded


def _ray_serve_caller(
    agent_address: str,
) -> tuple[Callable[[int], Awaitable[Any]], Callable[[], None]]:
    """Ray Serve: a router deployment choosing the tier, a deployment per tier calling the agent."""
    import ray
    from ray import serve

    # Replicas take no CPU reservation: on a 2-core machine four 1-CPU replicas would never
    # all be scheduled (they still use the cores, like the agents and the orchestrator do).
    # Async replicas take many requests at once: Serve's default of 5 ongoing requests makes
    # the router reject and back off at concurrency 64, which no Ray user would leave as is.
    options = {"ray_actor_options": {"num_cpus": 0}, "max_ongoing_requests": 256}

    @serve.deployment(**options)
    class TierDeployment:
        def __init__(self, address: str) -> None:
            self.address = address
            self.stub: agent_pb2_grpc.DeviceAgentStub | None = None
            self.next = itertools.count()

        async def __call__(self, request: dict[str, Any]) -> dict[str, float]:
            if self.stub is None:  # the channel must belong to the replica's event loop
                self.stub = agent_pb2_grpc.DeviceAgentStub(grpc.aio.insecure_channel(self.address))
            reply = await self.stub.Run(
                agent_pb2.RunRequest(
                    node=f"device-{next(self.next) % NODES}",
                    request_id=request["id"],
                    model=request["model"],
                    prompt_tokens=request["prompt_tokens"],
                    output_tokens=request["output_tokens"],
                ),
                timeout=60,
            )
            return {"latency_s": reply.latency_s, "energy_j": reply.energy_j}

    @serve.deployment(**options)
    class RouterDeployment:
        def __init__(self, device: Any, edge: Any, cloud: Any) -> None:
            self.tiers = {"device": device, "edge": edge, "cloud": cloud}
            self.small = {MODEL}

        async def __call__(self, request: dict[str, Any]) -> dict[str, float]:
            tier = "device" if request["model"] in self.small else "cloud"
            return await self.tiers[tier].remote(request)

    # A Ray of its own, even when another runs on this machine (ray.init would join that one
    # and refuse num_cpus): the comparison must not share a cluster with unknown work.
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    app = RouterDeployment.bind(
        *(TierDeployment.options(name=t).bind(agent_address) for t in ("device", "edge", "cloud"))
    )
    handle = serve.run(app, name="edgetier-bench", route_prefix=None)

    async def call(i: int) -> Any:
        return await handle.remote(
            {
                "id": f"r{i}",
                "model": MODEL,
                "prompt_tokens": PROMPT_TOKENS,
                "output_tokens": OUTPUT_TOKENS,
            }
        )

    def shutdown() -> None:
        serve.shutdown()
        ray.shutdown()

    return call, shutdown


async def _ray_pair(agent_address: str, args: argparse.Namespace) -> tuple[Stats, Stats]:
    call, shutdown = _ray_serve_caller(agent_address)
    try:
        return await measure(call, 1, args.serial_requests), await measure(call, 64, args.requests)
    finally:
        shutdown()


def run(args: argparse.Namespace) -> BenchResult:
    config = StackConfig(
        agents=[
            AgentConfig(
                "device",
                "ax630c",
                {MODEL: "w8a16"},
                nodes=NODES,
                queue_capacity=1024,
                name="device",
            )
        ],
        orchestrator=OrchestratorConfig(port=0),
        time_scale=0.0,
    )
    results: dict[str, tuple[Stats, Stats]] = {}
    with LocalStack(config, port=0) as stack:
        agent = stack.children[1].ready["grpc"]
        forwarder = subprocess.Popen(
            [sys.executable, "-m", "edgetier.bench.forwarder", "--target", agent],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            forwarded = first_json_line(forwarder.stdout, 30)["grpc"]  # type: ignore[arg-type]
            results["direct"] = asyncio.run(_pair(lambda: _agent_caller(agent, "d"), args))
            results["forwarder"] = asyncio.run(_pair(lambda: _agent_caller(forwarded, "f"), args))
            results["orchestrator"] = asyncio.run(
                _pair(lambda: orchestrator_caller(stack.address), args)
            )
        finally:
            forwarder.terminate()
            forwarder.wait(10)
        if not args.no_ray:
            results["ray_serve"] = asyncio.run(_ray_pair(agent, args))
    return _result(results)


def _result(results: dict[str, tuple[Stats, Stats]]) -> BenchResult:
    direct = results["direct"][0].p50_s
    summary: dict[str, Any] = {}
    rows = []
    for name, (serial, loaded) in results.items():
        summary[f"{name}_rps"] = loaded.rps
        summary[f"{name}_rps_c1"] = serial.rps
        summary[f"{name}_p50_s"] = serial.p50_s
        summary[f"{name}_p99_s"] = loaded.p99_s
        rows.append(
            [
                name,
                serial.rps,
                serial.p50_s * 1e3,
                (serial.p50_s - direct) * 1e3,
                loaded.rps,
                loaded.p50_s * 1e3,
                loaded.p99_s * 1e3,
            ]
        )
    summary["forwarder_added_p50_s"] = results["forwarder"][0].p50_s - direct
    summary["orchestrator_added_p50_s"] = results["orchestrator"][0].p50_s - direct
    summary["orchestrator_vs_forwarder_rps"] = (
        summary["orchestrator_rps"] / summary["forwarder_rps"]
    )
    summary["orchestrator_vs_forwarder_added_p50"] = (
        summary["orchestrator_added_p50_s"] / summary["forwarder_added_p50_s"]
    )
    if "ray_serve" in results:
        summary["orchestrator_vs_ray_serve_rps"] = (
            summary["orchestrator_rps"] / summary["ray_serve_rps"]
        )
    notes = [
        "targets: orchestrator rps >= 3x Ray Serve and >= 60% of the forwarder (concurrency 64); "
        "added p50 <= 1.5x the forwarder's (concurrency 1)",
        json.dumps({k: round(v, 4) for k, v in summary.items() if "_vs_" in k}),
    ]
    columns = ["path", "rps c1", "p50 ms c1", "added p50 ms", "rps c64", "p50 ms c64", "p99 ms c64"]
    return BenchResult(
        "Orchestrator overhead (time-scale 0: platform cost only)", columns, rows, summary, notes
    )
