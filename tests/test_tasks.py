"""Every LLM request has a task family: named by its scenario mix entry or trace (the shipped
traces by default: conversation -> chat, code -> code), chat when nothing names one; vision
requests have none. A task on a vision entry, or an unknown one, is an error naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetsim.scenario import load_scenario
from fleetsim.workload import arrivals
from npu_sim.datafile import DataFileError
from npu_sim.quality import DEFAULT_TASK, TASKS

TOPOLOGY = {
    "dev": {
        "tier": "device",
        "hardware": "ax630c",
        "nodes": 2,
        "models": {"qwen2.5-0.5b": "w8a16", "yolov8s": "w8a8"},
    }
}


def write(tmp_path: Path, workload: dict[str, Any]) -> Path:
    path = tmp_path / "tasks.yaml"
    data = {"name": "tasks", "seed": 2, "topology": TOPOLOGY, "workload": workload}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def poisson(*mix: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "poisson", "rate_per_s": 1.0, "requests": 200, "mix": list(mix)}


def test_mix_entries_give_their_requests_their_task_and_chat_when_they_name_none(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        poisson(
            {"model": "qwen2.5-0.5b", "task": "math"},
            {"model": "qwen2.5-0.5b", "prompt_tokens": 64},
            {"model": "yolov8s"},
        ),
    )
    requests = [a.request for a in arrivals(load_scenario(path))]
    by_shape = {(r.model, r.prompt_tokens == 64, r.task) for r in requests}
    assert by_shape == {
        ("qwen2.5-0.5b", False, "math"),
        ("qwen2.5-0.5b", True, DEFAULT_TASK),
        ("yolov8s", False, None),
    }
    assert DEFAULT_TASK == "chat"


@pytest.mark.parametrize(
    ("file", "task", "expected"),
    [
        ("azure_llm_2023_conv.csv", None, "chat"),
        ("azure_llm_2023_code.csv", None, "code"),
        ("azure_llm_2023_code.csv", "math", "math"),
    ],
)
def test_trace_requests_take_the_traces_task_unless_the_scenario_overrides_it(
    tmp_path: Path, file: str, task: str | None, expected: str
) -> None:
    workload: dict[str, Any] = {
        "kind": "trace",
        "file": file,
        "models": {"qwen2.5-0.5b": 1},
        "requests": 50,
    }
    if task is not None:
        workload["task"] = task
    requests = [a.request for a in arrivals(load_scenario(write(tmp_path, workload)))]
    assert len(requests) == 50
    assert {r.task for r in requests} == {expected}


def test_a_task_on_a_vision_mix_entry_names_the_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, poisson({"model": "qwen2.5-0.5b"}, {"model": "yolov8s", "task": "chat"}))
    with pytest.raises(DataFileError) as caught:
        load_scenario(path)
    assert f"{path}:" in str(caught.value)
    assert "workload.mix.1.task: yolov8s is not an LLM" in str(caught.value)


def test_an_unknown_task_names_the_field_and_the_valid_tasks(tmp_path: Path) -> None:
    path = write(tmp_path, poisson({"model": "qwen2.5-0.5b", "task": "poetry"}))
    with pytest.raises(DataFileError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "mix.0.task" in message and f"{path}:" in message
    assert all(task in message for task in TASKS)
