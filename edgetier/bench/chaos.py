"""`edgetier bench chaos`: a longer run in which agents are killed and restarted at random.

The embedded stack (a bit larger than the tests': two agents per remote tier, so a tier
survives one crash) takes a steady mix of requests at fixed concurrency while a seeded chaos
thread SIGKILLs a random agent every few seconds and restarts it a little later. Every request
must get exactly one final answer: `lost` (no answer) and `duplicated` (more than one) must be
0; failures are counted by status code.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import random
import threading
import time
from typing import Any

import grpc

from deploy.config import AgentConfig, OrchestratorConfig, StackConfig
from deploy.local import LocalStack
from edgetier.argtypes import non_negative_float, non_negative_int, positive_float, positive_int
from edgetier.bench import BenchResult
from edgetier.v1 import orchestrator_pb2, orchestrator_pb2_grpc

DEVICE = {"qwen2.5-0.5b": "w8a16", "yolov8s": "w8a8"}
EDGE = {"qwen2.5-0.5b": "w8a16", "qwen2.5-7b": "w4a16", "yolov8s": "w8a8"}
CLOUD = {"llama3.1-70b": "w8a16", "qwen2.5-7b": "fp16", "qwen2.5-0.5b": "fp16"}
#: (model, weight, prompt tokens, output tokens): mostly small chats, some 7B and 70B, vision.
MIX = [
    ("qwen2.5-0.5b", 5, 64, 32),
    ("qwen2.5-7b", 3, 128, 32),
    ("llama3.1-70b", 1, 256, 32),
    ("yolov8s", 2, 1, 1),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=positive_float, default=60.0, help="seconds of load")
    parser.add_argument(
        "--seed", type=non_negative_int, default=1, help="seed of the kills and the mix"
    )
    parser.add_argument("--concurrency", type=positive_int, default=32)
    parser.add_argument("--time-scale", type=non_negative_float, default=0.01)


def _config(time_scale: float) -> StackConfig:
    return StackConfig(
        agents=[
            AgentConfig("device", "ax630c", DEVICE, nodes=8, queue_capacity=2, name="dev"),
            AgentConfig("edge", "ax650n", EDGE, nodes=2, queue_capacity=8, name="edge-a"),
            AgentConfig("edge", "ax650n", EDGE, nodes=2, queue_capacity=8, name="edge-b"),
            AgentConfig("cloud", "h100-pcie-80g", CLOUD, queue_capacity=64, name="cloud-a"),
            AgentConfig("cloud", "h100-pcie-80g", CLOUD, queue_capacity=64, name="cloud-b"),
        ],
        orchestrator=OrchestratorConfig(port=0),
        time_scale=time_scale,
    )


def _chaos(stack: LocalStack, rng: random.Random, stop: threading.Event, log: list[str]) -> None:
    names = [agent.name for agent in stack.config.agents]
    while not stop.wait(rng.uniform(3.0, 8.0)):
        victim = rng.choice(names)
        child = next(c for c in stack.children if c.name == victim)
        child.process.kill()
        log.append(f"killed {victim}")
        if stop.wait(rng.uniform(1.0, 3.0)):
            break
        stack.restart_agent(victim)
        log.append(f"restarted {victim}")


async def _load(address: str, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    answers: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    sent = 0
    ids = itertools.count()
    weights = [weight for _, weight, _, _ in MIX]
    end = time.monotonic() + args.duration
    async with grpc.aio.insecure_channel(address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)

        async def worker() -> None:
            nonlocal sent
            while time.monotonic() < end:
                model, _, prompt, output = rng.choices(MIX, weights)[0]
                request_id = f"chaos-{next(ids)}"
                request = orchestrator_pb2.InferRequest(
                    model=model,
                    prompt_tokens=prompt,
                    max_tokens=output,
                    request_id=request_id,
                    client_node=f"dev-{rng.randrange(8)}" if model != "llama3.1-70b" else "",
                )
                sent += 1
                try:
                    await stub.Infer(request, timeout=60)
                    outcome = "OK"
                except grpc.aio.AioRpcError as error:
                    outcome = error.code().name
                answers[request_id] += 1
                outcomes[outcome] += 1

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return {"sent": sent, "answers": answers, "outcomes": outcomes}


def run(args: argparse.Namespace) -> BenchResult:
    rng = random.Random(args.seed)
    events: list[str] = []
    with LocalStack(_config(args.time_scale), port=0) as stack:
        stop = threading.Event()
        chaos = threading.Thread(
            target=_chaos, args=(stack, random.Random(rng.random()), stop, events), daemon=True
        )
        started = time.monotonic()
        chaos.start()
        try:
            result = asyncio.run(_load(stack.address, args, rng))
        finally:
            stop.set()
            chaos.join(timeout=60)
        elapsed = time.monotonic() - started
    outcomes = result["outcomes"]
    answers = result["answers"]
    failed = {code: n for code, n in sorted(outcomes.items()) if code != "OK"}
    summary = {
        "sent": result["sent"],
        "succeeded": outcomes.get("OK", 0),
        "failed": failed,
        "lost": result["sent"] - len(answers),
        "duplicated": sum(n - 1 for n in answers.values() if n > 1),
        "kills": sum(1 for e in events if e.startswith("killed")),
        "duration_s": elapsed,
        "requests_per_s": result["sent"] / elapsed,
        "events": events,
    }
    rows = [
        ["sent", summary["sent"]],
        ["succeeded", summary["succeeded"]],
        *[[f"failed: {code}", n] for code, n in failed.items()],
        ["lost (must be 0)", summary["lost"]],
        ["duplicated (must be 0)", summary["duplicated"]],
        ["agent kills (each restarted 1-3 s later)", summary["kills"]],
    ]
    return BenchResult(
        f"Chaos: {elapsed:.0f} s, seed {args.seed}", ["", "requests"], rows, summary, events
    )
