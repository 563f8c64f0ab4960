"""`edgetier bench quality --json`: one object whose `policies` map gives every policy's joules
per request, SLO attainment and quality_vs_requested, the baselines and the router included;
the energy-quality plot is written beside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_bench_quality_json_has_joules_attainment_and_quality_per_policy(tmp_path: Path) -> None:
    tiny = str(REPO / "scenarios" / "tiny.yaml")
    command = ["bench", "quality", "--json", "--scenario", tiny, "--seeds", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", *command],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    policies = summary["policies"]
    for name in ("cloud-only", "energy-marginal", "learned-router", "smallest-model", "cascade"):
        assert set(policies[name]) == {
            "joules_per_request",
            "quality_vs_requested",
            "slo_attainment",
        }
    assert policies["cloud-only"]["quality_vs_requested"] == 1.0
    assert policies["smallest-model"]["quality_vs_requested"] < 1.0
    assert any(name.startswith("random-substitution(rate=") for name in policies)
    assert (tmp_path / "results" / "bench" / "quality.png").stat().st_size > 0
