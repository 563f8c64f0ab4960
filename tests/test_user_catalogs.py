"""Chips and models users bring (`--catalog FILE`, `catalog:` in scenario and stack files) work
like shipped ones in every command: a scenario whose edge tier is a user chip runs in fleetsim
and live."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from deploy.config import AgentConfig, OrchestratorConfig, StackConfig
from orchestrator.client import OrchestratorClient
from tests.conftest import REPO
from tests.up_process import edgetier_up

MY_NPU = REPO / "examples" / "chips" / "my-npu.yaml"
COMMANDS = [
    ["npu", "list"],
    ["npu", "predict"],
    ["npu", "validate"],
    ["sim", "run"],
    ["sim", "sweep"],
    ["up"],
    ["agent"],
    ["orchestrator"],
]


def edgetier(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def user_chip_scenario(folder: Path, catalog_key: bool = True) -> Path:
    """tiny's fleet with the edge boxes replaced by the user's RK3576, serving the user's
    Qwen3-1.7B (both defined only in examples/chips/my-npu.yaml)."""
    data = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())
    data["name"] = "user-chip"
    data["topology"]["edge"]["hardware"] = "rk3576"
    data["topology"]["edge"]["models"] = {"qwen2.5-0.5b": "w8a16", "qwen3-1.7b": "w4a16"}
    data["workload"]["mix"].append({"model": "qwen3-1.7b", "weight": 4, "prompt_tokens": 64})
    data["policies"] = ["edge-only", "device-first"]
    if catalog_key:  # relative to the scenario file, as users write it
        data["catalog"] = [os.path.relpath(MY_NPU, folder)]
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_every_command_that_uses_the_catalog_takes_catalog_files() -> None:
    for command in COMMANDS:
        done = edgetier(*command, "--help", timeout_s=60)
        assert done.returncode == 0, done.stderr
        assert "--catalog FILE" in done.stdout, command


@pytest.mark.timeout(120)
def test_a_scenario_with_a_catalog_key_runs_its_user_chip_in_fleetsim(tmp_path: Path) -> None:
    scenario = user_chip_scenario(tmp_path)
    done = edgetier("sim", "run", str(scenario), "--out", str(tmp_path / "out"), "--no-plots")
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(tmp_path / "out" / "requests.parquet").to_pylist()
    edge = [r for r in rows if r["policy"] == "edge-only" and r["model"] == "qwen3-1.7b"]
    assert edge and all(r["tier"] == "edge" and r["energy_j"] > 0 for r in edge)
    assert {r["node"] for r in edge} <= {"edge-0", "edge-1"}


def test_the_catalog_flag_adds_the_files_of_a_scenario_without_the_key(tmp_path: Path) -> None:
    scenario = user_chip_scenario(tmp_path, catalog_key=False)
    without = edgetier("sim", "run", str(scenario), "--out", str(tmp_path), "--no-plots")
    assert without.returncode == 2
    assert "topology.edge.hardware: unknown hardware 'rk3576'" in without.stderr
    done = edgetier(
        "sim", "run", str(scenario), "--catalog", str(MY_NPU), "--out", str(tmp_path), "--no-plots"
    )
    assert done.returncode == 0, done.stderr


def test_a_bad_catalog_file_is_exit_2_naming_its_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MY_NPU.read_text().replace("memory_gib:", "memroy_gib:", 1))
    for command in (["sim", "run", str(REPO / "scenarios" / "tiny.yaml")], ["npu", "list"]):
        done = edgetier(*command, "--catalog", str(bad), timeout_s=60)
        assert done.returncode == 2, command
        assert "bad.yaml:" in done.stderr and "did you mean `memory_gib`" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.timeout(180)
def test_a_stack_with_a_user_edge_chip_serves_its_user_model_live(tmp_path: Path) -> None:
    config = StackConfig(
        agents=[
            AgentConfig("device", "ax630c", {"qwen2.5-0.5b": "w8a16"}, nodes=2, name="dev"),
            AgentConfig("edge", "rk3576", {"qwen3-1.7b": "w4a16"}, name="edge"),
        ],
        orchestrator=OrchestratorConfig(port=0),
        time_scale=0.02,
    )
    with edgetier_up(tmp_path, config, "--catalog", str(MY_NPU)) as up:
        with OrchestratorClient(up.summary["orchestrator"], timeout_s=60) as client:
            reply = client.infer("qwen3-1.7b", prompt_tokens=64, max_tokens=16)
            hardware = {n["id"]: n["hardware"] for n in client.nodes()}
        up.stop()
    assert reply["tier"] == "edge" and hardware[reply["node"]] == "rk3576"
    assert reply["energy_j"] > 0 and reply["output_tokens"] == 16
