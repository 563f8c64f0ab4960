"""One arriving request, and the helpers both workload sources share to build it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fleetsim.scenario import DeviceMapping, Scenario, Tokens
from npu_sim.models import LLM, Model
from npu_sim.quality import DEFAULT_TASK
from routing.request import Request

#: Requests drawn per numpy call: large enough to amortise numpy, small enough to stay light.
CHUNK = 65_536

#: Independent random streams of one seed (numpy SeedSequence entropy [seed, stream]).
TIMES, MODELS, TOKENS, DEVICES = 1, 2, 3, 4


class Arrival(NamedTuple):
    """A request and the virtual time it reaches the orchestrator (seconds from the start)."""

    time: float
    request: Request


def new_arrival(time: float, request: Request) -> Arrival:
    """Arrival(time, request) without NamedTuple's Python-level __new__ (a million a run)."""
    return tuple.__new__(Arrival, (time, request))


def stream(seed: int, which: int) -> np.random.Generator:
    return np.random.default_rng([seed, which])


def draw_tokens(spec: Tokens, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` token counts from `spec`, as int64, clipped to [1, spec.max]."""
    if spec.constant is not None:
        values = np.full(n, spec.constant, dtype=np.int64)
    elif spec.uniform is not None:
        values = rng.integers(spec.uniform[0], spec.uniform[1] + 1, n, dtype=np.int64)
    else:
        assert spec.lognormal is not None
        normal = rng.normal(np.log(spec.lognormal.median), spec.lognormal.sigma, n)
        values = np.rint(np.exp(normal)).astype(np.int64)
    return np.clip(values, 1, spec.max)


def draw_devices(
    devices: list[str], mapping: DeviceMapping, rng: np.random.Generator, first: int, n: int
) -> list[str | None]:
    """Origin device of requests first..first+n-1: uniform random, or round-robin."""
    if not devices:
        return [None] * n
    if mapping == "round-robin":
        index = (np.arange(first, first + n) % len(devices)).tolist()
    else:
        index = rng.integers(0, len(devices), n).tolist()
    return [devices[i] for i in index]


def shaped(model: Model, prompt: int, output: int, cap: bool) -> tuple[int, int]:
    """Token counts as the request carries them: 1 and 1 for a vision model (one image); an
    LLM's capped to its context (output first kept, prompt cut) when `cap`."""
    if not isinstance(model, LLM):
        return 1, 1
    if cap and prompt + output > model.max_context:
        output = min(output, model.max_context - 1)
        prompt = max(1, model.max_context - output)
    return prompt, output


def llm_task(model: Model, task: str | None) -> str | None:
    """A request's task family: the one its source names, else the default task for an LLM;
    none for a vision model."""
    if not isinstance(model, LLM):
        return None
    return task or DEFAULT_TASK


def slo_table(scenario: Scenario, models: list[str]) -> dict[str, float | None]:
    return {model: scenario.slo_for(model) for model in models}


def device_pool(scenario: Scenario, group: str | None) -> list[str]:
    return scenario.device_ids(group)
