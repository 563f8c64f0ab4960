"""`edgetier sim run SCENARIO --live`: one command simulates, runs live, stops, and compares."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleetsim.compare import COLUMNS, COMPARED, SAME_TIER
from fleetsim.summary import COLUMNS as SUMMARY_COLUMNS
from tests.conftest import REPO

TINY = REPO / "scenarios" / "tiny.yaml"
POLICIES = ("device-first", "cascade")


@pytest.mark.timeout(240)
def test_sim_run_live_writes_both_runs_and_a_comparison_per_policy(
    tmp_path: Path,
) -> None:
    out = tmp_path / "tiny"
    command = [sys.executable, "-m", "edgetier", "sim", "run", str(TINY), "--out", str(out)]
    flags = ["--policies", ",".join(POLICIES), "--live", "--time-scale", "0.01", "--json"]
    process = subprocess.Popen(
        [*command, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout, stderr = process.communicate(timeout=220)
    assert process.returncode == 0, stderr[-3000:]
    printed = json.loads(stdout)  # stdout is the JSON alone: progress bars go to stderr
    for run in (out, out / "live"):
        with (run / "summary.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == SUMMARY_COLUMNS
        assert [row["policy"] for row in rows][: len(POLICIES)] == list(POLICIES)
        assert (run / "requests.parquet").exists() and (run / "tier_mix.png").exists()
    with (out / "comparison.csv").open() as handle:
        comparison = list(csv.DictReader(handle))
    assert list(comparison[0]) == COLUMNS
    assert [(r["policy"], r["metric"]) for r in comparison] == [
        (policy, metric) for policy in POLICIES for metric in (SAME_TIER, *COMPARED)
    ]
    assert len(printed["comparison"]) == len(comparison)
    for row in comparison:
        if row["metric"] in (SAME_TIER, "joules_per_request"):
            assert float(row["ratio"]) == pytest.approx(1.0, abs=0.10), row


@pytest.mark.timeout(60)
def test_time_scale_without_live_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgetier", "sim", "run", str(TINY), "--time-scale", "0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "edgetier sim: --time-scale and --workers go with --live"
