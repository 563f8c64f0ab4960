"""Policies users bring, run as users run them: a class in a file outside the project, by its
dotted path, in `edgetier sim run` and in a live `edgetier up`, routing as its code says."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from deploy.config import AgentConfig, OrchestratorConfig, StackConfig
from fleetsim.scenario import load_scenario
from fleetsim.simulator import Simulator
from orchestrator.client import OrchestratorClient
from routing.request import Request
from routing.specs import PolicySpec
from tests.conftest import REPO
from tests.up_process import edgetier_up

EXAMPLES = REPO / "examples" / "policies"
MINE = '''
from routing.policies import CloudOnly


class Mine(CloudOnly):
    """cloud-only's code, pointed at the edge tier."""

    tiers = ("edge",)
'''


def sim_run(*args: str, path: Path, timeout_s: float = 100) -> subprocess.CompletedProcess[str]:
    """`edgetier sim run scenarios/tiny.yaml ARGS` with `path` on PYTHONPATH, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "edgetier",
            "sim",
            "run",
            str(REPO / "scenarios" / "tiny.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=_env(path),
        timeout=timeout_s,
    )


def _env(*paths: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


@pytest.mark.timeout(120)
def test_a_user_subclass_of_cloud_only_gets_its_own_row_and_routes_to_its_tier(
    tmp_path: Path,
) -> None:
    (tmp_path / "mymod.py").write_text(MINE)
    out = tmp_path / "out"
    done = sim_run(
        "--policies",
        "device-first,mymod:Mine",
        "--out",
        str(out),
        "--no-plots",
        path=tmp_path,
        timeout_s=100,
    )
    assert done.returncode == 0, done.stderr
    with (out / "summary.csv").open() as summary:
        policies = [row["policy"] for row in csv.DictReader(summary)]
    assert policies[:2] == ["device-first", "mymod:Mine"]
    rows = [r for r in pq.read_table(out / "requests.parquet").to_pylist()]
    mine = [r for r in rows if r["policy"] == "mymod:Mine"]
    assert len(mine) == 40
    served_on = {r["tier"] for r in mine if r["tier"] is not None}
    assert served_on == {"edge"}  # the subclass's tier, not cloud-only's
    # What the edge cannot run (llama3.1-70b) is dropped with the edge's reason, not sent on.
    dropped = [r for r in mine if r["tier"] is None]
    assert dropped and all(r["model"] == "llama3.1-70b" for r in dropped)
    assert all(r["path"].startswith("edge:") for r in dropped)


@pytest.mark.timeout(120)
def test_the_example_policy_runs_by_path_in_sim_with_an_option(tmp_path: Path) -> None:
    done = sim_run(
        "--policies",
        "queue_aware:QueueAwareEnergy,energy-aware",
        "--policy-option",
        "queue_aware:QueueAwareEnergy.max_occupancy=1.0",
        "--out",
        str(tmp_path),
        "--no-plots",
        path=EXAMPLES,
        timeout_s=100,
    )
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(tmp_path / "requests.parquet").to_pylist()
    label = "queue_aware:QueueAwareEnergy(max_occupancy=1.0)"
    ours = {r["request_id"]: r["tier"] for r in rows if r["policy"] == label}
    energy = {r["request_id"]: r["tier"] for r in rows if r["policy"] == "energy-aware"}
    # With nothing crowded (max_occupancy 1), its rule is energy-aware's: cheapest meeting SLO.
    assert len(ours) == 40 and ours == energy


def test_a_bad_option_of_a_user_policy_is_exit_2_naming_it(tmp_path: Path) -> None:
    done = sim_run(
        "--policies",
        "queue_aware:QueueAwareEnergy",
        "--policy-option",
        "max_ocupancy=0.3",
        "--out",
        str(tmp_path),
        path=EXAMPLES,
        timeout_s=60,
    )
    assert done.returncode == 2
    assert "unknown option `max_ocupancy`; did you mean `max_occupancy`?" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(180)
def test_the_example_policy_routes_live_as_its_code_decides(tmp_path: Path) -> None:
    """`edgetier up --policy queue_aware:QueueAwareEnergy`: the orchestrator loads it, makes it
    the default, and each reply's tier is the one the class decides on the same idle fleet."""
    scenario = load_scenario(REPO / "scenarios" / "tiny.yaml")
    config = StackConfig(
        agents=[AgentConfig(**vars(group), name=name) for name, group in scenario.topology.items()],
        orchestrator=OrchestratorConfig(port=0),
        time_scale=0.02,
    )
    spec = PolicySpec("queue_aware:QueueAwareEnergy", {"max_occupancy": 0.5})
    flags = ["--policy", spec.ref, "--policy-option", "max_occupancy=0.5"]
    requests = [
        Request("a", "qwen2.5-0.5b", 64, 16, 6.0, "dev-0"),
        Request("b", "qwen2.5-7b", 64, 16, 4.0, "dev-1"),
        Request("c", "qwen2.5-7b", 64, 16, 30.0, "dev-2"),
        Request("d", "llama3.1-70b", 64, 16, 6.0, "dev-0"),
    ]
    with edgetier_up(tmp_path, config, *flags, env=_env(EXAMPLES)) as up:
        with OrchestratorClient(up.summary["orchestrator"], timeout_s=60) as client:
            loaded, default = client.policies()
            assert default == spec.label and spec.label in loaded
            replies = [
                client.infer(
                    r.model,
                    prompt_tokens=r.prompt_tokens,
                    max_tokens=r.output_tokens,
                    slo_ms=(r.slo_s or 0) * 1000,
                    client_node=r.origin or "",
                    request_id=r.id,
                )
                for r in requests
            ]
        up.stop()
    sys.path.insert(0, str(EXAMPLES))
    try:
        policy = spec.build()
    finally:
        sys.path.remove(str(EXAMPLES))
    idle = Simulator(scenario, policy).cluster  # the same fleet, idle, as the live one was
    for request, reply in zip(requests, replies, strict=True):
        first = next(step for step in policy.decide(request, idle) if step.skip is None)
        assert reply["policy"] == spec.label
        assert reply["tier"] == first.tier, (request, reply["tier"], first)
    assert {reply["tier"] for reply in replies} >= {"edge", "cloud"}
