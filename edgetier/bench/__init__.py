"""Benchmarks behind `edgetier bench NAME`. Each prints numbers and ratios; none is a test.

`BENCHMARKS` maps a name to the module that implements it; a module provides
`add_arguments(parser)` and `run(args) -> BenchResult`. Modules are imported on demand, so a
benchmark's heavy dependencies (Ray Serve, say) load only when it runs.
"""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

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


async def serve_until_signalled(server: grpc.aio.Server, host: str, port: int) -> None:
    """Run a benchmark's helper server (the forwarder, the null orchestrator) as a child
    process: listen, print one JSON line with the bound address for the parent to read, and
    stop on SIGTERM or SIGINT."""
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(json.dumps({"event": "listening", "grpc": f"{host}:{bound}"}), flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)
