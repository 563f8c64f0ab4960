"""Trace replay: the shipped Azure LLM 2023 traces, their copies, and replay options."""

from __future__ import annotations

import filecmp
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fleetsim.scenario import Scenario, parse_scenario
from fleetsim.workload import arrivals, horizon_s
from fleetsim.workload.trace import TRACES_DIR, TraceError, read_trace, resolve
from tests.conftest import SHARED

ORIGINALS = SHARED / "data" / "traces"
TRACES = {"azure_llm_2023_conv.csv": 19_366, "azure_llm_2023_code.csv": 8_819}


@pytest.mark.skipif(not ORIGINALS.is_dir(), reason="no ../shared beside the repository")
@pytest.mark.parametrize("name", [*TRACES, "README.md"])
def test_shipped_trace_copies_equal_the_shared_originals(name: str) -> None:
    assert filecmp.cmp(TRACES_DIR / name, ORIGINALS / name, shallow=False), (
        f"fleetsim/data/traces/{name} differs from ../shared/data/traces/{name}: copy it again"
    )


def test_the_trace_readme_keeps_the_attribution() -> None:
    text = (TRACES_DIR / "README.md").read_text()
    assert "CC-BY 4.0" in text and "Splitwise" in text and "Patel et al." in text


@pytest.mark.parametrize(("name", "rows"), TRACES.items())
def test_azure_traces_are_read_in_arrival_order(name: str, rows: int) -> None:
    times, prompts, outputs = read_trace(resolve(name))
    assert len(times) == len(prompts) == len(outputs) == rows
    assert times[0] == 0.0 and np.all(np.diff(times) >= 0)
    assert 3000 < times[-1] < 3700  # about an hour of production traffic
    assert prompts.min() >= 1 and outputs.min() >= 1
    # Sub-microsecond timestamps survive (the first two conversation rows are 4.3145789 s apart).
    if name == "azure_llm_2023_conv.csv":
        assert times[1] == pytest.approx(4.3145789, abs=1e-7)


def scenario(tmp_path: Path, **workload: object) -> Scenario:
    data = {
        "name": "trace",
        "seed": 3,
        "topology": {
            "dev": {
                "tier": "device",
                "hardware": "ax630c",
                "nodes": 4,
                "models": {"qwen2.5-0.5b": "w8a16"},
            },
        },
        "workload": {
            "kind": "trace",
            "file": "azure_llm_2023_conv.csv",
            "models": {"qwen2.5-0.5b": 3, "tinyllama-1.1b": 1},
            "requests": 2000,
            **workload,
        },
    }
    return parse_scenario(data, tmp_path / "trace.yaml")


def test_replay_maps_requests_to_models_and_devices(tmp_path: Path) -> None:
    replay = list(arrivals(scenario(tmp_path, devices="round-robin")))
    assert len(replay) == 2000
    assert [a.request.origin for a in replay[:5]] == ["dev-0", "dev-1", "dev-2", "dev-3", "dev-0"]
    models = Counter(a.request.model for a in replay)
    assert 0.70 < models["qwen2.5-0.5b"] / 2000 < 0.80  # weights 3:1
    uniform = Counter(a.request.origin for a in arrivals(scenario(tmp_path)))
    assert set(uniform) == {f"dev-{i}" for i in range(4)}
    assert list(arrivals(scenario(tmp_path))) == list(arrivals(scenario(tmp_path)))  # seeded


def test_replay_speeds_up_time_and_caps_tokens_to_the_context(tmp_path: Path) -> None:
    normal = scenario(tmp_path, models={"tinyllama-1.1b": 1})
    fast = scenario(tmp_path, models={"tinyllama-1.1b": 1}, speedup=4)
    assert horizon_s(fast) == pytest.approx(horizon_s(normal) / 4)
    replay = list(arrivals(normal))
    assert max(a.request.prompt_tokens + a.request.output_tokens for a in replay) <= 2048
    uncapped = list(
        arrivals(scenario(tmp_path, models={"tinyllama-1.1b": 1}, cap_to_context=False))
    )
    assert max(a.request.prompt_tokens + a.request.output_tokens for a in uncapped) > 2048


def test_a_user_trace_in_the_same_format_is_replayed(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n10.5,100,20\n10.0,50,10\n12.0,0,5\n"
    )
    replay = list(arrivals(scenario(tmp_path, file="mine.csv")))
    assert [(a.time, a.request.prompt_tokens, a.request.output_tokens) for a in replay] == [
        (0.0, 50, 10),
        (0.5, 100, 20),
        (2.0, 1, 5),  # at least one token
    ]
    (tmp_path / "bad.csv").write_text("TIMESTAMP,ContextTokens\n1,2\n")
    with pytest.raises(TraceError, match="missing columns GeneratedTokens"):
        list(arrivals(scenario(tmp_path, file="bad.csv")))
    with pytest.raises(TraceError, match="not found"):
        resolve("nowhere.csv", tmp_path)
