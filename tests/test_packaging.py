"""What `pip install edgetier` puts in a user's site-packages: the design's packages, with their
data files, and no generic top-level module (`bench`, `tests`, `examples`)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = {"edgetier", "npu_sim", "routing", "orchestrator", "device_agent", "fleetsim", "deploy"}


@pytest.mark.timeout(180)
def test_the_wheel_installs_only_the_design_packages_with_their_data(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=170,
    )
    (wheel,) = tmp_path.glob("edgetier-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == PACKAGES
    for data in (
        "npu_sim/data/hardware.yaml",
        "npu_sim/data/measurements_added.csv",
        "npu_sim/data/quality.yaml",
        "fleetsim/data/traces/azure_llm_2023_conv.csv",
        "deploy/configs/local.yaml",
        "deploy/grafana/dashboards/edgetier-overview.json",
    ):
        assert data in names, data
