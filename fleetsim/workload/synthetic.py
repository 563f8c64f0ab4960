"""Synthetic traffic: Poisson arrivals with a weighted mix of models and token distributions."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from fleetsim.scenario import Poisson, Scenario, as_tokens
from fleetsim.workload.arrival import (
    CHUNK,
    DEVICES,
    MODELS,
    TIMES,
    TOKENS,
    Arrival,
    draw_devices,
    draw_tokens,
    llm_task,
    shaped,
    slo_table,
    stream,
)
from routing.request import Request


def poisson_arrivals(scenario: Scenario, workload: Poisson, seed: int) -> Iterator[Arrival]:
    """Exponential gaps at `rate_per_s` until `duration_s` or `requests` requests."""
    times_rng, models_rng = stream(seed, TIMES), stream(seed, MODELS)
    tokens_rng, devices_rng = stream(seed, TOKENS), stream(seed, DEVICES)
    mix = workload.mix
    catalog = scenario.predictor().catalog
    names = [entry.model for entry in mix]
    tasks = [llm_task(catalog.model(entry.model), entry.task) for entry in mix]
    weights = np.array([entry.weight for entry in mix], dtype=float)
    weights /= weights.sum()
    slo = slo_table(scenario, names)
    devices = scenario.device_ids(workload.device_group)
    limit = workload.requests if workload.requests is not None else math.inf
    end = scenario.duration_s if scenario.duration_s is not None else math.inf
    shapes: dict[tuple[str, int, int], tuple[int, int]] = {}
    new = tuple.__new__
    clock, index = 0.0, 0
    while True:
        times = clock + np.cumsum(times_rng.exponential(1.0 / workload.rate_per_s, CHUNK))
        clock = float(times[-1])
        which = models_rng.choice(len(mix), CHUNK, p=weights)
        prompts = np.ones(CHUNK, dtype=np.int64)
        outputs = np.ones(CHUNK, dtype=np.int64)
        for k, entry in enumerate(mix):
            chosen = which == k
            count = int(chosen.sum())
            prompts[chosen] = draw_tokens(as_tokens(entry.prompt_tokens), tokens_rng, count)
            outputs[chosen] = draw_tokens(as_tokens(entry.output_tokens), tokens_rng, count)
        origins = draw_devices(devices, workload.devices, devices_rng, index, CHUNK)
        for t, k, p, o, origin in zip(
            times.tolist(), which.tolist(), prompts.tolist(), outputs.tolist(), origins, strict=True
        ):
            if t > end or index >= limit:
                return
            model = names[k]
            key = (model, p, o)
            shape = shapes.get(key)
            if shape is None:
                shape = shapes[key] = shaped(catalog.model(model), p, o, cap=True)
            request = Request(f"r{index}", model, shape[0], shape[1], slo[model], origin, tasks[k])
            yield new(Arrival, (t, request))  # new_arrival, inlined: a call less per request
            index += 1


def poisson_horizon(scenario: Scenario, workload: Poisson) -> float:
    by_count = workload.requests / workload.rate_per_s if workload.requests else math.inf
    return min(by_count, scenario.duration_s or math.inf)
