"""`edgetier bench load`: can `edgetier load` keep up with the orchestrator it drives?

Two rates on this machine, in one run, each at time scale 0 (no modelled waits: every request
is due at once, so the generator sends as fast as it can within its in-flight window):
(a) the generator's own ceiling: `deploy.load.replay` against an orchestrator that answers at
    once without routing (bench/null_orchestrator.py), with 1 and 2 sending processes;
(b) the orchestrator's rate: the same replay against a real orchestrator and agent (8 device
    nodes serving qwen2.5-0.5b, device-first), and the closed loop of `edgetier bench overhead`
    (64 concurrent clients) against the same stack.
The ratio of (a)'s best to (b)'s closed loop says whether the generator is the bottleneck: at
or above 1 it is not. Both share the machine's cores with what they drive.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from deploy.load import LoadOptions, ReplayResult, replay
from deploy.local import LocalStack, first_json_line
from deploy.scenario import scenario_stack
from edgetier.argtypes import positive_int
from edgetier.bench import BenchResult
from edgetier.bench.overhead import MODEL, NODES, measure, orchestrator_caller
from fleetsim.scenario import Scenario, parse_scenario
from routing.specs import PolicySpec

WORKERS = (1, 2)
POLICY = PolicySpec("device-first")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=positive_int, default=20_000, help="requests per replay")


def bench_scenario(requests: int) -> Scenario:
    """One device group of NODES nodes, requests for one small model from each in turn."""
    data = {
        "name": "bench-load",
        "topology": {
            "device": {
                "tier": "device",
                "hardware": "ax630c",
                "nodes": NODES,
                "queue_capacity": 1024,
                "models": {MODEL: "w8a16"},
            }
        },
        "workload": {
            "kind": "poisson",
            "rate_per_s": 1000,
            "requests": requests,
            "devices": "round-robin",
            "mix": [{"model": MODEL, "prompt_tokens": 32, "output_tokens": 16}],
        },
        "policies": [POLICY.ref],
    }
    return parse_scenario(data, Path("bench-load.yaml"))


def run(args: argparse.Namespace) -> BenchResult:
    scenario = bench_scenario(args.requests)
    replays: dict[tuple[str, int], ReplayResult] = {}
    null = subprocess.Popen(
        [sys.executable, "-m", "edgetier.bench.null_orchestrator"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        address = first_json_line(null.stdout, 30)["grpc"]  # type: ignore[arg-type]
        for workers in WORKERS:
            replays["null orchestrator", workers] = replay(
                scenario, POLICY, LoadOptions(address, 0.0, workers)
            )
    finally:
        null.terminate()
        null.wait(10)
    with LocalStack(scenario_stack(scenario, 0.0), port=0) as stack:
        for workers in WORKERS:
            replays["orchestrator", workers] = replay(
                scenario, POLICY, LoadOptions(stack.address, 0.0, workers)
            )
        closed = asyncio.run(_closed_loop(stack.address, args.requests))
    return _result(replays, closed)


async def _closed_loop(address: str, requests: int) -> float:
    channel, call = orchestrator_caller(address)
    try:
        return (await measure(call, 64, requests)).rps
    finally:
        await channel.close()


def _result(replays: dict[tuple[str, int], ReplayResult], closed_rps: float) -> BenchResult:
    ceiling = max(r.rate for (target, _), r in replays.items() if target == "null orchestrator")
    driven = max(r.rate for (target, _), r in replays.items() if target == "orchestrator")
    summary: dict[str, Any] = {
        f"{target.replace(' ', '_')}_w{workers}_rps": r.rate
        for (target, workers), r in replays.items()
    }
    summary |= {
        "generator_ceiling_rps": ceiling,
        "orchestrator_rps": closed_rps,
        "orchestrator_driven_by_load_rps": driven,
        "generator_vs_orchestrator": ceiling / closed_rps,
    }
    rows: list[list[Any]] = [
        [f"edgetier load -> {target}", workers, r.rate, r.wall_s, r.tally.answered]
        for (target, workers), r in replays.items()
    ]
    rows.append(
        ["closed loop, 64 clients -> orchestrator (bench overhead)", "-", closed_rps, "-", "-"]
    )
    notes = [
        f"generator ceiling {ceiling:,.0f} req/s vs orchestrator {closed_rps:,.0f} req/s: "
        f"ratio {ceiling / closed_rps:.2f} (>= 1: the generator is not the bottleneck)"
    ]
    return BenchResult(
        "Load generator ceiling vs orchestrator rate (time scale 0)",
        ["path", "workers", "answered/s", "wall s", "answered"],
        rows,
        summary,
        notes,
    )
