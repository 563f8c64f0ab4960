"""What an install brings: `edgetier --version` from the installed metadata, and the `bench`
extra with what every benchmark needs (Ray Serve, for `bench overhead`)."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_version_is_the_installed_distributions_and_pyprojects() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", "--version"], capture_output=True, text=True, timeout=60
    )
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert done.returncode == 0
    assert done.stdout == f"edgetier {importlib.metadata.version('edgetier')}\n"
    assert importlib.metadata.version("edgetier") == declared


def test_the_bench_extra_brings_ray_serve() -> None:
    requirements = importlib.metadata.requires("edgetier") or []
    bench = [r for r in requirements if 'extra == "bench"' in r]
    assert any(r.startswith("ray[") and "serve" in r.split("]")[0] for r in bench), bench


@pytest.mark.timeout(300)
def test_bench_overhead_runs_every_path_ray_serve_included(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "edgetier", "bench", "overhead", "--json"),
            *("--requests", "64", "--serial-requests", "8"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ray_serve_rps"] > 0 and summary["orchestrator_rps"] > 0
