"""Benchmarks behind `edgetier bench NAME`. Each prints numbers and ratios; none is a test.

`BENCHMARKS` maps a name to the module that implements it; a module provides
`add_arguments(parser)` and `run(args) -> BenchResult`. Modules are imported on demand, so a
benchmark's heavy dependencies (Ray Serve, say) load only when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where benchmarks write their JSON summaries and plots: beside `edgetier sim run`'s results,
#: under the current directory (never inside the installed package).
RESULTS_DIR = Path("results") / "bench"

BENCHMARKS: dict[str, str] = {
    "energy": "edgetier.bench.energy",
    "overhead": "edgetier.bench.overhead",
    "chaos": "edgetier.bench.chaos",
    "fleetsim": "edgetier.bench.fleetsim",
    "policies": "edgetier.bench.policies",
    "load": "edgetier.bench.load",
    "quality": "edgetier.bench.quality",
}


@dataclass
class BenchResult:
    """A benchmark's table (for people) and summary (for scripts: the JSON object)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)
