"""`edgetier bench fleetsim`: how many requests per wall second fleetsim simulates at fleet scale.

A city-sized fleet (N phones on ax630c, N/100 ax650n edge boxes, N/1000 H100s) serves a
Poisson stream of detection (yolov8s) and chat (qwen2.5-0.5b) requests with SLOs, under the
default policy, through the whole `edgetier sim run` path except the energy bounds and plots:
the live platform's policy objects, Escalator, network model and node engines in virtual time,
records streamed to Parquet, summary histograms. Prints wall seconds and simulated requests per
wall second (`requests_per_s`).

Seconds do not carry between machines, so the run also measures its floor on this machine, now:
a bare heapq event loop of the same size (as many devices and Poisson arrivals, each served
for a fixed time in its device's FIFO, nothing else: no policy, engine, energy or records).
`vs_floor` is the simulation's wall time over the floor's.
"""

from __future__ import annotations

import argparse
import heapq
import random
import tempfile
import time
from pathlib import Path

from edgetier.argtypes import non_negative_int, positive_int
from edgetier.bench import BenchResult
from fleetsim.records import ParquetSink, Sink
from fleetsim.runner import simulate_policy
from fleetsim.scenario import Scenario, parse_scenario
from npu_sim.predictor import default_predictor
from routing.policies import DEFAULT_POLICY
from routing.specs import PolicySpec

ARRIVAL, COMPLETION = 0, 1
#: Each phone asks about once every 10 s: detections mostly, a chat turn now and then.
REQUESTS_PER_DEVICE_S = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=positive_int, default=10_000, help="phones in the fleet")
    parser.add_argument(
        "--requests", type=positive_int, default=1_000_000, help="requests to simulate"
    )
    parser.add_argument("--policy", default=DEFAULT_POLICY, help="routing policy")
    parser.add_argument("--no-records", action="store_true", help="do not write requests.parquet")
    parser.add_argument("--seed", type=non_negative_int, default=0)


def fleet_scenario(devices: int, requests: int, seed: int = 0) -> Scenario:
    """The benchmark's scenario, validated like a file."""
    data = {
        "name": "bench-fleetsim",
        "seed": seed,
        "topology": {
            "phone": {
                "tier": "device",
                "hardware": "ax630c",
                "nodes": devices,
                "queue_capacity": 4,
                "models": {"qwen2.5-0.5b": "w4a16", "yolov8s": "w8a8"},
            },
            "edge": {
                "tier": "edge",
                "hardware": "ax650n",
                "nodes": max(1, devices // 100),
                "queue_capacity": 8,
                "models": {"qwen2.5-0.5b": "w8a16", "qwen2.5-1.5b": "w8a16", "yolov8s": "w8a8"},
            },
            "cloud": {
                "tier": "cloud",
                "hardware": "h100-pcie-80g",
                "nodes": max(1, devices // 1000),
                "queue_capacity": 64,
                "models": {"qwen2.5-7b": "fp16", "qwen2.5-0.5b": "fp16", "yolov8s": "fp16"},
            },
        },
        "workload": {
            "kind": "poisson",
            "rate_per_s": devices * REQUESTS_PER_DEVICE_S,
            "requests": requests,
            "mix": [
                {"model": "yolov8s", "weight": 8},
                {
                    "model": "qwen2.5-0.5b",
                    "weight": 2,
                    "prompt_tokens": {"uniform": [16, 512]},
                    "output_tokens": {"uniform": [16, 96]},
                },
            ],
        },
        "slo_s": {"llm": 15.0, "detection": 0.1},
        "policies": [DEFAULT_POLICY],
    }
    return parse_scenario(data, Path("<bench fleetsim>"), base_dir=Path("."))


def heapq_floor(devices: int, requests: int, rate_per_s: float, seed: int = 0) -> float:
    """Wall seconds of the bare event loop: every device a Poisson stream of requests (its
    next arrival an event on the heap), each request served for a fixed time in its device's
    FIFO (its completion an event on the heap)."""
    rng = random.Random(seed)
    per_device = rate_per_s / devices
    service_s = 0.5
    free_at = [0.0] * devices
    heap = [(rng.expovariate(per_device), ARRIVAL, device) for device in range(devices)]
    heapq.heapify(heap)
    push, pop, draw = heapq.heappush, heapq.heappop, rng.expovariate
    start = time.perf_counter()
    arrived = 0
    while heap:
        now, kind, device = pop(heap)
        if kind == ARRIVAL:
            done = max(now, free_at[device]) + service_s
            free_at[device] = done
            push(heap, (done, COMPLETION, device))
            arrived += 1
            if arrived < requests:
                push(heap, (now + draw(per_device), ARRIVAL, device))
            else:
                heap = [event for event in heap if event[1] == COMPLETION]
                heapq.heapify(heap)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> BenchResult:
    scenario = fleet_scenario(args.devices, args.requests, args.seed)
    predictor = default_predictor()
    with tempfile.TemporaryDirectory(prefix="bench-fleetsim-") as tmp:
        sinks: list[Sink] = []
        parquet = None
        if not args.no_records:
            parquet = ParquetSink(Path(tmp) / "requests.parquet")
            sinks.append(parquet)
        start, cpu = time.perf_counter(), time.process_time()
        stats = simulate_policy(scenario, PolicySpec(args.policy), args.seed, sinks, predictor)
        if parquet is not None:
            parquet.close()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        size = parquet.path.stat().st_size if parquet is not None else 0
    floor = heapq_floor(
        args.devices, args.requests, args.devices * REQUESTS_PER_DEVICE_S, args.seed
    )
    row = stats.row()
    rate = stats.requests / wall
    summary = {
        "devices": args.devices,
        "nodes": scenario.node_count,
        "requests": stats.requests,
        "policy": args.policy,
        "wall_s": wall,
        "cpu_s": cpu,  # both threads (the Parquet writer runs beside the simulation)
        "requests_per_s": rate,
        "floor_s": floor,
        "vs_floor": wall / floor,
        "virtual_s": stats.horizon_s,
        "records_bytes": size,
        "slo_attainment": row["slo_attainment"],
        "joules_per_request": row["joules_per_request"],
        "latency_p99_s": row["latency_p99_s"],
    }
    columns = [
        "devices",
        "nodes",
        "requests",
        "policy",
        "wall s",
        "requests/s",
        "floor s",
        "x floor",
        "virtual s",
    ]
    rows = [
        [
            args.devices,
            scenario.node_count,
            stats.requests,
            args.policy,
            wall,
            rate,
            floor,
            wall / floor,
            stats.horizon_s,
        ]
    ]
    notes = [
        f"SLO attainment {row['slo_attainment']:.3f}, {row['joules_per_request']:.3g} J/request, "
        f"p99 latency {row['latency_p99_s']:.3g} s; records "
        + ("not written" if args.no_records else f"{size / 1e6:.1f} MB of Parquet")
    ]
    return BenchResult("fleetsim at fleet scale", columns, rows, summary, notes)
