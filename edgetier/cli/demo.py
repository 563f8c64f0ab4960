"""`edgetier demo`: the whole idea in a minute, on the embedded local stack.

Starts the default stack (50 phones with AX630C NPUs, 4 AX650N edge boxes, 2 H100s) on free
ports, sends a mixed workload (small, medium and large LLMs, detection, and a burst from one
phone that fills its queue), prints where each request ran with its latency and energy and the
totals per tier, stops everything and exits 0. Modelled time runs 20x faster than real time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import sys
from collections import defaultdict
from typing import Any

import grpc

from deploy.config import DEFAULT_CONFIG, load_config
from deploy.local import LaunchError, LocalStack
from edgetier.cli.orchestrator import max_tokens
from edgetier.cli.output import console, print_table
from orchestrator.client import OrchestratorClient

DEMO_TIME_SCALE = 0.05

#: (label, model, request fields): what a newcomer should see happen.
WORKLOAD: list[tuple[str, str, dict[str, Any]]] = [
    ("chat on a phone", "qwen2.5-0.5b", {"prompt": "What is an NPU?", "client_node": "device-0"}),
    ("chat on a phone", "qwen3-0.6b", {"prompt_tokens": 200, "client_node": "device-1"}),
    ("bigger chat", "qwen2.5-1.5b", {"prompt_tokens": 300, "client_node": "device-2"}),
    ("camera detection", "yolov8s", {"client_node": "device-3"}),
    ("open-vocabulary detection", "owlvit-b-32", {"client_node": "device-4"}),
    ("image search (CLIP)", "clip-vit-b-16", {"client_node": "device-5"}),
    ("7B assistant", "qwen2.5-7b", {"prompt_tokens": 400, "client_node": "device-6"}),
    (
        "7B with a 5 s SLO",
        "qwen2.5-7b",
        {"prompt_tokens": 400, "slo_ms": 5000, "client_node": "device-7"},
    ),
    ("Llama 3 8B", "llama3-8b", {"prompt_tokens": 256, "client_node": "device-8"}),
    ("70B reasoning", "llama3.1-70b", {"prompt_tokens": 800, "client_node": "device-9"}),
    (
        "cascade: small first",
        "qwen2.5-7b",
        {"prompt_tokens": 100, "policy": "cascade", "client_node": "device-10"},
    ),
]
BURST = 8  # concurrent requests from one phone whose queue holds two


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser("demo", help="start the local stack, send a mixed workload, stop")
    demo.add_argument(
        "--max-tokens", type=max_tokens, default=64, help="output tokens per LLM request"
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    config = dataclasses.replace(load_config(DEFAULT_CONFIG), time_scale=DEMO_TIME_SCALE)
    console.print(
        f"Starting the local stack: {config.node_count} nodes in "
        f"{len(config.agents) + 1} processes ..."
    )
    try:
        with (
            LocalStack(config, port=0) as stack,
            OrchestratorClient(stack.address, timeout_s=120) as client,
        ):
            rows = _run(client, args.max_tokens)
    except LaunchError as exc:
        print(f"edgetier demo: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        print(f"edgetier demo: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print_table(
        "Where each request ran (modelled seconds and joules, network included)",
        ["request", "model", "tier", "node", "TTFT s", "latency s", "J", "escalations"],
        [
            [
                r["label"],
                r["model"],
                r["tier"],
                r["node"],
                r["ttft_s"],
                r["latency_s"],
                r["energy_j"],
                "; ".join(
                    f"{e['from_tier']}->{e['to_tier']} ({e['reason']})" for e in r["escalations"]
                ),
            ]
            for r in rows
        ],
    )
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for r in rows:
        totals[r["tier"]][0] += 1
        totals[r["tier"]][1] += r["energy_j"]
        totals[r["tier"]][2] += r["latency_s"]
    print_table(
        "Totals per tier",
        ["tier", "requests", "joules", "J / request", "mean latency s"],
        [
            [tier, n, joules, joules / n, latency / n]
            for tier, (n, joules, latency) in sorted(totals.items())
        ],
    )
    console.print(
        "The phones answered the small models, the edge boxes the 7-8B models, the "
        "cloud the 70B one; the burst overflowed its phone's queue and was escalated. "
        "Next: `edgetier up`, then `edgetier infer --help`."
    )
    return 0


def _run(client: OrchestratorClient, max_tokens: int) -> list[dict[str, Any]]:
    rows = []
    for label, model, fields in WORKLOAD:
        reply = client.infer(model, max_tokens=max_tokens, **fields)
        rows.append({"label": label, **reply})

    def burst(i: int) -> dict[str, Any]:
        reply = client.infer(
            "qwen2.5-0.5b", prompt_tokens=64, max_tokens=max_tokens, client_node="device-20"
        )
        return {"label": f"burst from one phone #{i + 1}", **reply}

    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        rows += list(pool.map(burst, range(BURST)))
    return rows
