"""Helpers for tests that run the live stack: small stack configs, metric scraping."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable

from deploy.config import AgentConfig, OrchestratorConfig, StackConfig

SMALL_MODELS = {"qwen2.5-0.5b": "w8a16", "yolov8s": "w8a8"}
EDGE_MODELS = {"qwen2.5-0.5b": "w8a16", "qwen2.5-7b": "w4a16", "yolov8s": "w8a8"}
CLOUD_MODELS = {"llama3.1-70b": "w8a16", "qwen2.5-7b": "fp16", "qwen2.5-0.5b": "fp16"}


def small_stack(time_scale: float = 0.02, device_queue: int = 1) -> StackConfig:
    """3 phones, 2 edge boxes, 1 GPU: every tier, in a few seconds of start-up."""
    return StackConfig(
        agents=[
            AgentConfig(
                "device", "ax630c", SMALL_MODELS, nodes=3, queue_capacity=device_queue, name="dev"
            ),
            AgentConfig("edge", "ax650n", EDGE_MODELS, nodes=2, queue_capacity=8, name="edge"),
            AgentConfig(
                "cloud", "h100-pcie-80g", CLOUD_MODELS, nodes=1, queue_capacity=64, name="cloud"
            ),
        ],
        orchestrator=OrchestratorConfig(port=0),
        time_scale=time_scale,
    )


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
