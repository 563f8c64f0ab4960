"""`edgetier load`: a scenario's workload against a live stack, recorded like a simulated run.

The headline test runs what the README says, as a user: `edgetier up --scenario tiny.yaml`,
then `edgetier load` against it, then joins its requests.parquet with `edgetier sim run`'s. The
others drive `deploy.load.replay` at time scale 0 (no modelled waits: a run takes a second) to
check that every request sent has exactly one record, refused ones included, with several
sending processes too, and that a second replay on the same stack runs again.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from deploy.load import LoadOptions, replay
from deploy.local import LocalStack
from deploy.scenario import scenario_stack
from fleetsim.records import SCHEMA, ParquetSink
from fleetsim.scenario import Scenario, load_scenario
from fleetsim.summary import COLUMNS
from routing.specs import PolicySpec
from tests.conftest import REPO
from tests.live import metric_sum, scrape, small_stack
from tests.test_tls import make_pki
from tests.test_up_scenario import up

TINY = REPO / "scenarios" / "tiny.yaml"
SCALE = "0.05"


def edgetier(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=cwd,
    )


def by_id(path: Path) -> dict[str, dict]:
    return {row["request_id"]: row for row in pq.read_table(path).to_pylist()}


@pytest.mark.timeout(240)
def test_load_on_up_scenario_serves_90pct_on_the_simulated_tier_with_energy_within_10pct(
    tmp_path: Path,
) -> None:
    flags = ("--scenario", str(TINY), "--time-scale", SCALE, "--log-dir", str(tmp_path / "logs"))
    with up(tmp_path, *flags) as (_, summary):
        load = edgetier(
            "load",
            str(TINY),
            "--orchestrator",
            summary["orchestrator"],
            "--policy",
            "device-first",
            "--time-scale",
            SCALE,
            "--out",
            str(tmp_path / "live"),
            cwd=tmp_path,
        )
    assert load.returncode == 0, load.stderr
    sim = edgetier(
        "sim",
        "run",
        str(TINY),
        "--policies",
        "device-first",
        "--out",
        str(tmp_path / "sim"),
        cwd=tmp_path,
    )
    assert sim.returncode == 0, sim.stderr
    live, simulated = (
        by_id(tmp_path / "live" / "requests.parquet"),
        by_id(tmp_path / "sim" / "requests.parquet"),
    )
    assert set(live) == set(simulated)
    same = sum(live[rid]["tier"] == simulated[rid]["tier"] for rid in simulated)
    assert same >= 0.9 * len(simulated)
    live_j = sum(row["energy_j"] for row in live.values())
    assert live_j == pytest.approx(sum(row["energy_j"] for row in simulated.values()), rel=0.10)
    header = (tmp_path / "live" / "summary.csv").read_text().splitlines()[0]
    assert header.split(",") == COLUMNS
    assert pq.read_schema(tmp_path / "live" / "requests.parquet") == SCHEMA
    plots = {"latency_cdf.png", "energy_vs_slo.png", "tier_mix.png", "load_over_time.png"}
    assert plots <= {p.name for p in (tmp_path / "live").iterdir()}


def refusing(tmp_path: Path) -> Scenario:
    """tiny, 400 requests under edge-only with one-deep edge queues: the 70B model is served
    nowhere on the edge (UNAVAILABLE), and bursts find both queues full (RESOURCE_EXHAUSTED)."""
    data = yaml.safe_load(TINY.read_text())
    data["workload"] |= {"requests": 400, "rate_per_s": 50}
    data["topology"]["edge"]["queue_capacity"] = 1
    data["policies"] = ["edge-only"]
    path = tmp_path / "refusing.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path)


@pytest.fixture(scope="module")
def instant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scenario, LocalStack]]:
    """The refusing scenario's stack at time scale 0: no modelled waits."""
    folder = tmp_path_factory.mktemp("instant")
    scenario = refusing(folder)
    with LocalStack(scenario_stack(scenario, 0.0), port=0, log_dir=folder / "logs") as stack:
        yield scenario, stack


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 3])
def test_every_request_sent_gets_exactly_one_record_refused_ones_with_their_status(
    instant: tuple[Scenario, LocalStack], tmp_path: Path, workers: int
) -> None:
    scenario, stack = instant
    sink = ParquetSink(tmp_path / "requests.parquet")
    try:
        result = replay(
            scenario, PolicySpec("edge-only"), LoadOptions(stack.address, 0.0, workers), [sink]
        )
    finally:
        sink.close()
    rows = pq.read_table(sink.path).to_pylist()
    assert result.tally.sent == len(rows) == 400
    assert sorted(row["request_id"] for row in rows) == sorted(f"r{i}" for i in range(400))
    reasons = {row["dropped_reason"].split(":")[0] for row in rows if row["tier"] is None}
    assert reasons == {"UNAVAILABLE", "RESOURCE_EXHAUSTED"}
    unavailable = [row for row in rows if (row["dropped_reason"] or "").startswith("UNAVAIL")]
    assert {row["model"] for row in unavailable} == {"llama3.1-70b"}
    assert result.stats.requests == 400
    assert result.stats.dropped == sum(result.tally.failed.values())


@pytest.mark.timeout(120)
def test_a_second_replay_on_the_same_stack_runs_again(
    instant: tuple[Scenario, LocalStack],
) -> None:
    """Same ids, same policy, same stack: the orchestrator does not answer from its memory of
    the first replay (each replay is its own run), the cloud runs every request twice."""
    scenario, stack = instant
    workload = dataclasses.replace(scenario.workload, requests=20)
    twenty = dataclasses.replace(scenario, workload=workload)
    cloud = next(c for c in stack.children if c.name == "cloud")

    def completed() -> float:
        text = scrape(cloud.ready["metrics"])
        return metric_sum(text, "edgetier_agent_requests_total", outcome="ok")

    before = completed()
    for _ in range(2):
        result = replay(twenty, PolicySpec("cloud-only"), LoadOptions(stack.address, 0.0))
        assert result.stats.served == 20
    assert completed() - before == 40


@pytest.mark.timeout(120)
def test_bad_load_input_is_one_line_naming_the_option_exit_2(tmp_path: Path) -> None:
    unreachable = edgetier("load", str(TINY), "--orchestrator", "127.0.0.1:1", cwd=tmp_path)
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("edgetier load: --orchestrator 127.0.0.1:1: UNAVAILABLE")
    stack_config = small_stack()
    phones = dataclasses.replace(stack_config.agents[0], name="phone")  # not the scenario's dev
    stack_config = dataclasses.replace(stack_config, agents=[phones, *stack_config.agents[1:]])
    with LocalStack(stack_config, port=0, log_dir=tmp_path / "logs") as stack:
        cases = {
            ("--policy", "nope"): "--policy nope: not loaded by the orchestrator",
            ("--workers", "0"): "argument --workers: must be a whole number >= 1, got 0",
            ("--duration", "0"): "--duration: must be more than 0",
            (): "the stack lacks 3 of the scenario's 3 device nodes (e.g. dev-0)",
        }
        for flags, message in cases.items():
            result = edgetier(
                "load", str(TINY), "--orchestrator", stack.address, *flags, cwd=tmp_path
            )
            assert result.returncode == 2, (flags, result.stderr)
            assert message in result.stderr, (flags, result.stderr)
            assert "Traceback" not in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1 or "usage:" in result.stderr
    missing = edgetier("load", str(tmp_path / "none.yaml"), cwd=tmp_path)
    assert missing.returncode == 2 and "none.yaml: cannot read" in missing.stderr


@pytest.mark.timeout(120)
def test_load_drives_a_tls_stack_started_from_a_scenario(tmp_path: Path) -> None:
    make_pki(tmp_path, ["stack"])
    tls = ["--tls-cert", str(tmp_path / "stack.pem"), "--tls-key", str(tmp_path / "stack.key")]
    ca = ["--tls-ca", str(tmp_path / "ca.pem")]
    flags = ("--scenario", str(TINY), "--time-scale", "0", "--log-dir", str(tmp_path / "logs"))
    with up(tmp_path, *flags, *tls, *ca) as (_, summary):
        load = edgetier(
            "load",
            str(TINY),
            "--orchestrator",
            summary["orchestrator"],
            "--time-scale",
            "0",
            "--no-plots",
            "--out",
            str(tmp_path / "live"),
            *ca,
            cwd=tmp_path,
        )
    assert load.returncode == 0, load.stderr
    assert len(by_id(tmp_path / "live" / "requests.parquet")) == 40
