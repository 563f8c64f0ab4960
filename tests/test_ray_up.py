"""`edgetier up --ray` on a real Ray cluster: three Ray nodes on this machine, one per tier
resource, the launcher run as a user runs it, agents placed by resources, traffic reaching every
tier, and nothing left behind (agent processes, actors, a Ray it started) once it stops.

The cluster is `ray.cluster_utils.Cluster`, Ray's own multi-node cluster on one machine: each
node is a real raylet with its own resources. Everything stays on loopback (see RAY_ENV).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from deploy.config import AgentConfig, StackConfig
from deploy.monitoring import free_port
from deploy.processes import LaunchError
from deploy.ray_stack import NAMESPACE, RayAgent, RayStack
from deploy.scenario import scenario_stack
from fleetsim.scenario import load_scenario
from orchestrator.client import OrchestratorClient
from tests.conftest import REPO
from tests.live import small_stack
from tests.processes import children_of
from tests.up_process import all_gone, edgetier_up, wait_until_scraped

# Ray turns a loopback address into this machine's outward IP unless told the cluster is one
# machine; these keep the cluster, the launcher and its actors on 127.0.0.1 (and send no usage
# report). Set before Ray is imported: it reads them once.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
os.environ.update(RAY_ENV)

ray = pytest.importorskip("ray")
NODE_ARGS: dict[str, Any] = {"num_cpus": 1, "object_store_memory": 78_643_200}
PROMETHEUS = shutil.which("prometheus") is not None


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Any, dict[str, str]]]:
    """A head node offering edgetier_cloud and two more offering edgetier_device and
    edgetier_edge; yields the cluster and the Ray node id offering each tier's resource. This
    process is connected to it as a driver, to look at actors."""
    from ray.cluster_utils import Cluster

    head = {**NODE_ARGS, "resources": {"edgetier_cloud": 1}, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        node_of = {"cloud": cluster.head_node.node_id}
        for tier in ("device", "edge"):
            node_of[tier] = cluster.add_node(**NODE_ARGS, resources={f"edgetier_{tier}": 1}).node_id
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
        yield cluster, node_of
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.timeout(120)
def test_up_with_no_address_starts_a_local_ray_offering_every_tier_and_shuts_it_down(
    tmp_path: Path,
) -> None:
    with edgetier_up(tmp_path, small_stack(), "--ray", env=RAY_ENV) as up:
        agents = [e for e in up.summary["endpoints"] if e["kind"] == "agent"]
        assert len({a["ray_node_id"] for a in agents}) == 1, "one local Ray node hosts them all"
        with OrchestratorClient(up.summary["orchestrator"], timeout_s=60) as client:
            assert client.infer("llama3.1-70b", prompt_tokens=64, max_tokens=8)["tier"] == "cloud"
        # Its children: the orchestrator and the Ray it started (GCS, raylet, ...).
        assert any("raylet" in _command(pid) for pid in children_of(up.process.pid))
        started = up.stop()
        assert all_gone(started + [int(a["pid"]) for a in agents])


@pytest.mark.timeout(150)
def test_up_on_a_ray_cluster_places_agents_by_tier_serves_every_tier_and_cleans_up(
    cluster: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    ray_cluster, node_of = cluster
    config = small_stack()
    # One agent names its resource explicitly, as a stack file may; the others use the default.
    device = dataclasses.replace(config.agents[0], ray_resources={"edgetier_device": 1.0})
    config = dataclasses.replace(config, agents=[device, *config.agents[1:]])
    prometheus = ["--prometheus", "--prometheus-port", str(free_port())] if PROMETHEUS else []
    with edgetier_up(
        tmp_path, config, "--ray", ray_cluster.address, *prometheus, env=RAY_ENV
    ) as up:
        agents = {e["name"]: e for e in up.summary["endpoints"] if e["kind"] == "agent"}
        assert set(agents) == {"dev", "edge", "cloud"}
        for agent in config.agents:
            landed = agents[agent.name]
            assert landed["ray_node_id"] == node_of[agent.tier], f"{agent.name} misplaced"
            assert landed["ray_node_ip"] == "127.0.0.1"
            assert _parent_command(int(landed["pid"])) == "ray::AgentProcess"

        with OrchestratorClient(up.summary["orchestrator"], timeout_s=60) as client:
            assert {n["state"] for n in client.nodes()} == {"up"}
            small = client.infer("qwen2.5-0.5b", prompt="Hi", max_tokens=8, client_node="dev-0")
            medium = client.infer("qwen2.5-7b", prompt_tokens=64, max_tokens=8)
            large = client.infer("llama3.1-70b", prompt_tokens=64, max_tokens=8)
        assert (small["tier"], small["agent"]) == ("device", "dev")
        assert (medium["tier"], medium["agent"]) == ("edge", "edge")
        assert (large["tier"], large["agent"]) == ("cloud", "cloud")
        if PROMETHEUS:
            wait_until_scraped(up.summary)

        started = up.stop()
        assert all_gone(started + [int(a["pid"]) for a in agents.values()])
        for name in agents:
            with pytest.raises(ValueError):
                ray.get_actor(f"edgetier-agent-{name}", namespace=NAMESPACE)


@pytest.mark.timeout(180)
def test_load_replays_a_scenario_against_a_stack_on_the_ray_cluster(
    cluster: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    tiny = REPO / "scenarios" / "tiny.yaml"
    config = scenario_stack(load_scenario(tiny), time_scale=0.02)
    with edgetier_up(tmp_path, config, "--ray", cluster[0].address, env=RAY_ENV) as up:
        load = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgetier",
                "load",
                str(tiny),
                "--orchestrator",
                up.summary["orchestrator"],
                "--time-scale",
                "0.02",
                "--out",
                str(tmp_path / "live"),
                "--no-plots",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert load.returncode == 0, load.stderr
        agents = [int(e["pid"]) for e in up.summary["endpoints"] if e["kind"] == "agent"]
        assert all_gone(up.stop() + agents)
    rows = pq.read_table(tmp_path / "live" / "requests.parquet").to_pylist()
    assert len(rows) == 40
    assert {row["tier"] for row in rows} == {"device", "edge", "cloud"}


@pytest.mark.timeout(120)
def test_sigkilled_up_on_a_ray_cluster_leaves_no_agent_or_actor_within_15_s(
    cluster: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    with edgetier_up(tmp_path, small_stack(), "--ray", cluster[0].address, env=RAY_ENV) as up:
        agents = {e["name"]: int(e["pid"]) for e in up.summary["endpoints"] if "pid" in e}
        started = children_of(up.process.pid)
        os.kill(up.process.pid, signal.SIGKILL)
        up.process.wait()
        assert all_gone(started + list(agents.values()), timeout_s=15.0)
        for name in agents:
            with pytest.raises(ValueError):
                ray.get_actor(f"edgetier-agent-{name}", namespace=NAMESPACE)


@pytest.mark.timeout(60)
def test_an_agent_dies_with_its_actor_and_the_stack_notices(
    cluster: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    """Ray may kill an actor without asking it (a lost node, `ray.kill`): its agent must not
    outlive it, and the launcher must see the agent gone."""
    config = dataclasses.replace(small_stack(), agents=small_stack().agents[:1])
    with RayStack(config, port=0, log_dir=tmp_path) as stack:
        (agent,) = [c for c in stack.children if isinstance(c, RayAgent)]
        pid = int(agent.ready["pid"])
        assert stack.exited() is None
        ray.kill(agent.actor, no_restart=True)
        assert all_gone([pid]), "the agent outlived its actor"
        assert stack.exited() is agent


@pytest.mark.timeout(60)
def test_an_agent_no_node_can_host_is_a_clear_error_before_anything_starts(
    cluster: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    agent = AgentConfig(
        "cloud",
        "h100-pcie-80g",
        {"qwen2.5-0.5b": "fp16"},
        ray_resources={"edgetier_gpu": 1},
        name="gpu",
    )
    stack = RayStack(StackConfig([agent]), port=0, log_dir=tmp_path)
    with pytest.raises(LaunchError, match=r"1 edgetier_gpu \(cluster: 0\)"):
        stack.start()
    assert stack.children == []
    assert ray.is_initialized(), "a Ray connection the stack did not make stays open"


def _parent_command(pid: int) -> str:
    """The command name (as Ray names its workers) of `pid`'s parent."""
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return _command(int(stat.rsplit(")", 1)[1].split()[1]))


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().split("\0")[0].strip()
    except OSError:
        return ""
