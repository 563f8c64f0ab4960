"""`edgetier up --scenario FILE`, as a user runs it: the scenario's fleet, links and policies
live; and an `edgetier up` killed outright (SIGKILL) takes every process it started with it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deploy.monitoring import free_port
from deploy.processes import first_json_line
from fleetsim.scenario import load_scenario
from npu_sim.catalog import default_catalog
from orchestrator.client import OrchestratorClient
from routing.network import LinkOverride, with_overrides
from tests.conftest import REPO
from tests.live import small_stack
from tests.processes import children_of
from tests.up_process import START_TIMEOUT_S, all_gone, edgetier_up

PROMETHEUS = shutil.which("prometheus") is not None
TINY = REPO / "scenarios" / "tiny.yaml"


def scenario_file(folder: Path) -> Path:
    """tiny.yaml with a slower edge link and two settings of one policy among three."""
    data = yaml.safe_load(TINY.read_text())
    data["network"] = {"edge": {"rtt_s": 0.25, "bandwidth_mbit_s": 10}}
    data["policies"] = [
        "edge-only",
        {"name": "cascade", "options": {"threshold": 0.3}},
        {"name": "cascade", "options": {"threshold": 0.9}},
    ]
    path = folder / "tiny-slow-edge.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@contextlib.contextmanager
def up(folder: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[str], dict]]:
    """`edgetier up --port 0 --json FLAGS` until the block ends (killed then if still up)."""
    stderr = (folder / "up.stderr").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "edgetier", "up", "--port", "0", "--json", *flags],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=folder,
    )
    try:
        summary = first_json_line(process.stdout, START_TIMEOUT_S)  # type: ignore[arg-type]
        assert summary, (folder / "up.stderr").read_text()[-3000:]
        yield process, summary
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr.close()


@pytest.mark.timeout(120)
def test_up_scenario_runs_its_groups_links_and_every_policy_live(tmp_path: Path) -> None:
    path = scenario_file(tmp_path)
    scenario = load_scenario(path)
    flags = ("--scenario", str(path), "--time-scale", "0.02", "--log-dir", str(tmp_path / "logs"))
    with up(tmp_path, *flags) as (_, summary):
        agents = {e["name"] for e in summary["endpoints"] if e["kind"] == "agent"}
        assert agents == set(scenario.topology)
        with OrchestratorClient(summary["orchestrator"], timeout_s=60) as client:
            nodes = {n["id"]: n for n in client.nodes()}
            policies, default = client.policies()
            reply = client.infer("qwen2.5-0.5b", prompt_tokens=64, max_tokens=8, policy="edge-only")
    expected = {
        node: group.tier
        for name, group in scenario.topology.items()
        for node in group.node_ids(name)
    }
    assert {node: n["tier"] for node, n in nodes.items()} == expected
    assert default == "edge-only"
    assert {"cascade(threshold=0.3)", "cascade(threshold=0.9)"} <= set(policies)
    model = default_catalog().model("qwen2.5-0.5b")
    link = with_overrides(scenario.network).transfer("edge", model, 64, reply["output_tokens"])
    assert reply["tier"] == "edge"
    assert reply["network_s"] == pytest.approx(link.seconds)  # 0.25 s RTT, not the default 4 ms


@pytest.mark.timeout(120)
def test_a_stack_files_network_section_sets_the_live_orchestrators_links(tmp_path: Path) -> None:
    network = {"cloud": LinkOverride(rtt_s=0.5, joules_per_byte=1e-4)}
    config = dataclasses.replace(small_stack(), network=network)
    with (
        edgetier_up(tmp_path, config) as running,
        OrchestratorClient(running.summary["orchestrator"], timeout_s=60) as client,
    ):
        reply = client.infer("llama3.1-70b", prompt_tokens=64, max_tokens=8)
    model = default_catalog().model("llama3.1-70b")
    link = with_overrides(network).transfer("cloud", model, 64, reply["output_tokens"])
    assert reply["tier"] == "cloud"
    assert reply["network_s"] == pytest.approx(link.seconds)
    assert reply["network_energy_j"] == pytest.approx(link.joules)


@pytest.mark.timeout(120)
def test_a_bad_scenario_is_one_line_naming_the_file_and_field_exit_2(tmp_path: Path) -> None:
    data = yaml.safe_load(TINY.read_text())
    data["network"] = {"edge": {"rtt_s": -1}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [sys.executable, "-m", "edgetier", "up", "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:" in result.stderr and "network.edge.rtt_s" in result.stderr


@pytest.mark.timeout(120)
def test_sigkilled_up_leaves_none_of_its_processes_within_15_s(tmp_path: Path) -> None:
    prometheus = ["--prometheus", "--prometheus-port", str(free_port())] if PROMETHEUS else []
    flags = ("--scenario", str(TINY), "--time-scale", "0.05", "--log-dir", str(tmp_path / "logs"))
    with up(tmp_path, *flags, *prometheus) as (process, summary):
        started = children_of(process.pid)
        assert len(started) == 1 + len(load_scenario(TINY).topology) + bool(prometheus)
        assert {int(e["pid"]) for e in summary["endpoints"] if "pid" in e} <= set(started)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert all_gone(started, timeout_s=15.0), [json.dumps(e) for e in summary["endpoints"]]
