"""`sim sweep --param policy.[POLICY.]KEY=...`: a policy option as a sweep dimension, so a
cascade's thresholds or a router's targets trace an energy-quality curve (quality.png); an
option for a policy that is not chosen, or one it does not take, is an error before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim import sweep
from routing.specs import PolicyError
from tests.conftest import REPO

TINY = REPO / "scenarios" / "tiny.yaml"


def params(*texts: str) -> list[sweep.Param]:
    return [sweep.parse_param(text) for text in texts]


def test_an_option_param_multiplies_the_policies_that_take_it_and_runs_the_others_once(
    tmp_path: Path,
) -> None:
    plan = sweep.plan(
        TINY,
        params(
            "policy=cascade,device-first",
            "policy.cascade.threshold=0.3,0.7",
        ),
    )
    labels = [[spec.label for spec in point.policies or []] for point in plan.points]
    assert labels == [["cascade(threshold=0.3)"], ["cascade(threshold=0.7)"], ["device-first"]]
    rows = sweep.run_local(plan)
    assert {row["policy"] for row in rows} >= {"cascade(threshold=0.3)", "device-first"}
    assert "policy.cascade.threshold" not in plan.columns  # the label carries it
    figure = sweep.plot_quality(tmp_path / "quality.png", plan, rows)
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_an_option_for_a_policy_not_chosen_or_not_taken_is_an_error_naming_it() -> None:
    with pytest.raises(PolicyError, match=r"policy\.learned-router\.target_quality: no chosen"):
        sweep.plan(TINY, params("policy=cascade", "policy.learned-router.target_quality=0.9"))
    with pytest.raises(PolicyError, match="unknown option `treshold`; did you mean `threshold`"):
        sweep.plan(TINY, params("policy=cascade", "policy.treshold=0.3"))
