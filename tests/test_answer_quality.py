"""Answer quality in fleetsim's outputs: requests.parquet carries each served LLM request's task,
the answering model's P(correct) and sampled outcome, and the requested model's P(correct), as
npu_sim.quality gives them for the run's seed; summary.csv's mean_quality and
quality_vs_requested are computed from exactly those."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fleetsim.runner import RunResult, run_scenario
from fleetsim.scenario import load_scenario
from npu_sim.quality import default_quality
from routing.specs import PolicySpec
from tests.conftest import REPO

POLICIES = ["device-first", "cloud-only", "cascade"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    scenario = load_scenario(REPO / "scenarios" / "tiny.yaml")
    out = tmp_path_factory.mktemp("quality")
    return run_scenario(scenario, out, [PolicySpec(p) for p in POLICIES], plots=False)


@pytest.fixture(scope="module")
def rows(run: RunResult) -> list[dict]:
    assert run.out_dir is not None
    return pq.read_table(Path(run.out_dir) / "requests.parquet").to_pylist()


def test_records_carry_the_answering_and_requested_models_p_correct_for_the_runs_seed(
    run: RunResult, rows: list[dict]
) -> None:
    quality = default_quality().with_seed(run.seed)
    answered = 0
    for row in rows:
        if row["served_model"] is None or row["task"] is None:  # dropped, or a vision request
            assert row["p_correct"] is None and row["correct"] is None
            continue
        answered += 1
        task, rid = row["task"], row["request_id"]
        p_correct = quality.p_correct(row["served_model"], task, rid)
        assert row["p_correct"] == pytest.approx(p_correct, rel=1e-12)
        assert row["correct"] == quality.outcome(row["served_model"], task, rid)
        assert row["requested_p_correct"] == pytest.approx(
            quality.p_correct(row["model"], task, rid), rel=1e-12
        )
    assert answered > 0
    vision = [row for row in rows if row["model"] == "yolov8s"]
    assert vision and all(row["task"] is None for row in vision)


def test_a_policy_answering_with_the_requested_model_has_quality_vs_requested_one(
    run: RunResult,
) -> None:
    for policy in ("device-first", "cloud-only"):
        row = run.stats[policy].row()
        assert row["quality_vs_requested"] == pytest.approx(1.0, abs=1e-12)
        assert row["substituted_share"] == 0


def test_summary_quality_is_computed_from_the_records(run: RunResult, rows: list[dict]) -> None:
    for policy in POLICIES:
        mine = [r for r in rows if r["policy"] == policy and r["p_correct"] is not None]
        row = run.stats[policy].row()
        assert row["mean_quality"] == pytest.approx(
            math.fsum(r["p_correct"] for r in mine) / len(mine)
        )
        assert row["quality_vs_requested"] == pytest.approx(
            math.fsum(r["p_correct"] for r in mine)
            / math.fsum(r["requested_p_correct"] for r in mine)
        )
        substituted = [
            r for r in rows if r["policy"] == policy and r["served_model"] not in (None, r["model"])
        ]
        assert row["substituted_share"] == pytest.approx(len(substituted) / row["requests"])
    cascade = run.stats["cascade"].row()
    assert cascade["substituted_share"] > 0
    assert cascade["quality_vs_requested"] < 1
