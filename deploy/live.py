"""A scenario run live, policy by policy: what `edgetier sim run --live` adds to the simulation.

For each policy: start the scenario's stack (deploy.scenario, local processes on free ports),
replay the workload against it under that policy (deploy.load), stop it. A fresh stack per
policy, as fleetsim gives each policy a fresh fleet: no queue, resident model, learned
slowdown or batch of one policy's run leaks into the next. Every policy's records go to one
requests.parquet, then the summary rows, summary.csv and the plots are written as `sim run`
writes them, beside the simulated ones (`LIVE_DIR`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from deploy.load import LoadOptions, ReplayResult, replay, summarise_live
from deploy.local import LocalStack
from deploy.scenario import scenario_stack
from fleetsim.records import ParquetSink, Sink
from fleetsim.runner import RunResult
from fleetsim.scenario import Scenario
from routing.specs import PolicySpec

LIVE_DIR = "live"
"""Where the live results go, inside the simulated run's output folder."""

Replay = Callable[[Scenario, PolicySpec, LoadOptions, list[Sink]], ReplayResult]


def run_live(
    scenario: Scenario,
    policies: Sequence[PolicySpec],
    time_scale: float,
    out_dir: Path,
    workers: int = 1,
    plots: bool = True,
    replayer: Replay = replay,
) -> RunResult:
    """Run `policies` live on the scenario's fleet at `time_scale`; outputs in `out_dir`
    (logs of each stack under `out_dir/logs/<policy index>`). Raises LaunchError if a stack
    does not start, LoadError if a replay fails."""
    scenario = dataclasses.replace(scenario, policies=list(policies))
    config = scenario_stack(scenario, time_scale)
    records = ParquetSink(out_dir / "requests.parquet")
    results = []
    try:
        for i, policy in enumerate(policies):
            only = dataclasses.replace(config.orchestrator, policy=policy, policies=[])
            with LocalStack(
                dataclasses.replace(config, orchestrator=only),
                port=0,
                log_dir=out_dir / "logs" / str(i),
            ) as stack:
                options = LoadOptions(stack.address, time_scale, workers)
                results.append(replayer(scenario, policy, options, [records]))
    finally:
        records.close()
    return summarise_live(scenario, results, out_dir, records.path, plots)
