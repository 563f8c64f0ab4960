"""`--param PATH=VALUE`: a path that names something in the scenario is set (creating what the
schema allows), a path that names nothing is an error naming the path and the valid keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetsim.overrides import OverrideError
from fleetsim.scenario import load_scenario
from tests.conftest import REPO

TINY = REPO / "scenarios" / "tiny.yaml"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "topology.dev.nodez",
            "--param topology.dev.nodez: at topology.dev: unknown key `nodez`; did you mean "
            "`nodes`? (valid keys: hardware, max_batch, models, nodes, queue_capacity, tier)",
        ),
        (
            "topology.phone.nodes",
            "--param topology.phone.nodes: at topology: unknown key `phone`; valid keys: "
            "cloud, dev, edge",
        ),
        ("slo_scal", "at the top level: unknown key `slo_scal`; did you mean `slo_scale`?"),
        ("requests", "at the top level: unknown key `requests`; valid keys: attempt_floor_s,"),
        ("network.fog.rtt_s", "at network: unknown key `fog`; valid keys: cloud, edge"),
        ("workload.mix.0.weigth", "at workload.mix.0: unknown key `weigth`; did you mean `weight`"),
        ("workload.mix.7.weight", "at workload.mix: unknown key `7`; valid keys: 0, 1, 2, 3"),
        ("seed.low", "--param seed.low: seed holds a value, not keys"),
        ("base_dir", "at the top level: unknown key `base_dir`"),
    ],
)
def test_a_path_that_names_nothing_is_an_error_naming_it_and_the_valid_keys(
    path: str, message: str
) -> None:
    with pytest.raises(OverrideError) as caught:
        load_scenario(TINY, {path: 1})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("path", "value", "read"),
    [
        ("topology.dev.nodes", 5, lambda s: s.topology["dev"].nodes),
        ("network.cloud.rtt_s", 0.2, lambda s: s.network["cloud"].rtt_s),  # tiny has no network
        ("slo_s.qwen2.5-0.5b", 2.5, lambda s: s.slo_s["qwen2.5-0.5b"]),  # a new model id key
        (
            "topology.dev.models.qwen2.5-1.5b",
            "w4a16",
            lambda s: s.topology["dev"].models["qwen2.5-1.5b"],
        ),
        ("workload.mix.3.weight", 9, lambda s: s.workload.mix[3].weight),
        ("duration_s", 50, lambda s: s.duration_s),
    ],
)
def test_a_path_the_schema_allows_is_set_even_where_the_file_is_silent(
    path: str, value: Any, read: Any
) -> None:
    assert read(load_scenario(TINY, {path: value})) == value


def test_sweeping_a_path_that_names_nothing_is_exit_2_before_any_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "edgetier", "sim", "sweep", str(TINY)),
            *("--param", "topology.dev.nodez=1,2", "--out", str(tmp_path / "out")),
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 2
    assert "--param topology.dev.nodez: at topology.dev: unknown key `nodez`" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
