"""The energy lower bound against real runs, on random small fleets with bursts.

Whatever the fleet (phones, maybe edge boxes, GPUs that batch or not), the traffic (bursts of
requests arriving together, so that batches can fill) and the SLO, no run the simulator makes,
the built-in policies' or the offline schedule's, spends fewer joules per request than the
bound at that run's own attainment and drops. The bound's README section says why; this is the
check that the program's constraints are true of the engines.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetsim.runner import run_scenario
from fleetsim.scenario import load_scenario


def scenario_file(
    folder: Path,
    gpus: int,
    max_batch: int,
    phones: int,
    edges: int,
    bursts: list[tuple[float, int]],
    slo_s: float,
    seed: int,
) -> Path:
    """A fleet and a trace of `bursts` ((start s, requests arriving 50 ms apart) each)."""
    draw = random.Random(seed)
    rows = sorted(
        (start + 0.05 * i, draw.randint(16, 600), draw.randint(2, 160))
        for start, count in bursts
        for i in range(count)
    )
    (folder / "bursts.csv").write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        + "".join(f"{t:.3f},{p},{o}\n" for t, p, o in rows)
    )
    topology: dict[str, dict[str, Any]] = {
        "phone": {
            "tier": "device",
            "hardware": "ax630c",
            "nodes": phones,
            "queue_capacity": 2,
            "models": {"qwen2.5-0.5b": "w4a16"},
        },
        "cloud": {
            "tier": "cloud",
            "hardware": "h100-pcie-80g",
            "nodes": gpus,
            "queue_capacity": 16,
            "max_batch": max_batch,
            "models": {"qwen2.5-0.5b": "fp16", "qwen2.5-7b": "fp16"},
        },
    }
    if edges:
        topology["edge"] = {
            "tier": "edge",
            "hardware": "ax650n",
            "nodes": edges,
            "queue_capacity": 4,
            "models": {"qwen2.5-0.5b": "w8a16", "qwen2.5-7b": "w4a16"},
        }
    scenario = {
        "name": "random",
        "seed": seed,
        "topology": topology,
        "workload": {
            "kind": "trace",
            "file": "bursts.csv",
            "models": {"qwen2.5-0.5b": 2, "qwen2.5-7b": 1},
            "devices": "round-robin",
        },
        "slo_s": {"llm": slo_s},
    }
    path = folder / "random.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    gpus=st.integers(1, 3),
    max_batch=st.sampled_from([1, 4, 32]),
    phones=st.integers(1, 4),
    edges=st.integers(0, 2),
    bursts=st.lists(
        st.tuples(st.floats(0, 90, allow_nan=False), st.integers(1, 14)), min_size=1, max_size=4
    ),
    slo_s=st.floats(0.5, 30),
    seed=st.integers(0, 10_000),
)
def test_no_run_spends_less_than_the_bound_at_its_attainment(
    tmp_path_factory: pytest.TempPathFactory,
    gpus: int,
    max_batch: int,
    phones: int,
    edges: int,
    bursts: list[tuple[float, int]],
    slo_s: float,
    seed: int,
) -> None:
    folder = tmp_path_factory.mktemp("bound")
    scenario = load_scenario(
        scenario_file(folder, gpus, max_batch, phones, edges, bursts, slo_s, seed)
    )
    result = run_scenario(scenario, None, plots=False, records=False)
    assert result.lower_j is not None, "the best run met more SLOs than the bound allows"
    runs = [*result.stats.values(), *([result.feasible] if result.feasible else [])]
    for stats in runs:
        bound = result.bound_joules(stats.policy)
        assert bound is not None, f"{stats.policy} met more SLOs than the bound allows"
        assert bound <= stats.joules_per_request * (1 + 1e-7) + 1e-9, (
            stats.policy,
            stats.met,
            stats.dropped,
            bound,
            stats.joules_per_request,
        )
    # The offline schedule ran through the simulator: one outcome per request (conservation is
    # checked by the runner, which raises otherwise).
    assert result.feasible is not None
    assert result.feasible.requests == result.best.requests
