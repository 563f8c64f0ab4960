"""`edgetier sim run` and `edgetier sim sweep` through the command line, and a sweep on Ray."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fleetsim import sweep
from fleetsim.summary import COLUMNS
from tests.conftest import REPO

TINY = REPO / "scenarios" / "tiny.yaml"
PNGS = ("latency_cdf.png", "energy_vs_slo.png", "tier_mix.png", "load_over_time.png")
pytestmark = pytest.mark.timeout(120)


def edgetier(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=110,
    )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_sim_run_writes_records_summary_and_plots(tmp_path: Path) -> None:
    done = edgetier("sim", "run", str(TINY), "--policies", "device-first,cloud-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "results" / "tiny"  # the default: results/<scenario name>
    summary = rows(out / "summary.csv")
    assert list(summary[0]) == COLUMNS
    assert [r["policy"] for r in summary] == [
        "device-first",
        "cloud-only",
        "lower-bound",
        "offline-feasible",
    ]
    assert all(int(r["requests"]) == 40 for r in summary)
    for row in summary:  # never below the bound; the fleet's energy includes idle power
        assert (row["policy"] == "lower-bound") == (row["fleet_energy_j"] == "")
        if row["policy"] != "lower-bound":
            assert float(row["joules_vs_bound"]) >= 1 - 1e-9
            assert float(row["fleet_energy_j"]) > float(row["joules_per_request"]) * 40
    records = pq.read_table(out / "requests.parquet")
    assert records.num_rows == 80 and "latency_s" in records.column_names
    for name in PNGS:
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert "device-first" in done.stdout and "lower-bound" in done.stdout


def test_sim_run_json_prints_one_json_object_on_stdout_and_progress_on_stderr(
    tmp_path: Path,
) -> None:
    done = edgetier("sim", "run", str(TINY), "--policies", "cloud-only", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["rows"][0]["policy"] == "cloud-only"
    assert "tiny: 1 policies" in done.stderr


def test_sim_run_rejects_a_bad_scenario_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("hardware: ax650n", "hardware: ax650"))
    done = edgetier("sim", "run", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{bad}:16: topology.edge.hardware: " in done.stderr, done.stderr


def test_sim_sweep_runs_the_grid_into_one_table_and_a_plot(tmp_path: Path) -> None:
    done = edgetier(
        "sim",
        "sweep",
        str(TINY),
        "--param",
        "topology.dev.nodes=1,3",
        "--param",
        "policy=device-first,energy-aware",
        "--out",
        str(tmp_path / "sweep"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    table = rows(tmp_path / "sweep" / "sweep.csv")
    # 2 sizes x 2 policies, each run with its two bound rows
    assert len(table) == 12
    assert {r["topology.dev.nodes"] for r in table} == {"1", "3"}
    assert {r["policy"] for r in table} == {
        "device-first",
        "energy-aware",
        "lower-bound",
        "offline-feasible",
    }
    assert (tmp_path / "sweep" / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_sweep_on_a_local_ray_cluster_matches_the_local_run() -> None:
    ray = pytest.importorskip("ray")
    plan = sweep.plan(
        TINY,
        [sweep.parse_param("slo_scale=0.5,2"), sweep.parse_param("policy=device-first")],
        seeds=2,
    )
    assert len(plan.points) == 4
    # address="local": a new cluster of our own, even if another one runs on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = sweep.run_ray(plan)
    finally:
        ray.shutdown()
    assert on_ray == sweep.run_local(plan)
    assert {r["seed"] for r in on_ray} == {1, 2}
