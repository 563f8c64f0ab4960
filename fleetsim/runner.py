"""Running a scenario: every policy over the same requests, then the oracle, then the outputs.

Each policy gets a fresh fleet (engines idle, models preloaded) and the same request stream
(regenerated from the seed, not stored). Outputs in `out_dir`:

    requests.parquet   one row per request and policy (fleetsim.records)
    summary.csv        one row per policy, plus the oracle (fleetsim.summary)
    *.png              plots (fleetsim.plots)

Conservation is checked, not assumed: every request that arrived has exactly one outcome per
policy, or the run fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetsim.oracle import Oracle
from fleetsim.records import ParquetSink, Recorder, Sink
from fleetsim.scenario import Poisson, Scenario
from fleetsim.simulator import Simulator
from fleetsim.summary import PolicyStats, write_csv
from fleetsim.workload import arrivals, horizon_s
from fleetsim.workload.trace import read_trace, resolve
from npu_sim.predictor import Predictor
from npu_sim.quality import quality_for
from routing.specs import PolicySpec

Progress = Callable[[int], None]


class ConservationError(RuntimeError):
    """A request ended twice or never: a simulator bug, never a result."""


@dataclass
class RunResult:
    scenario: Scenario
    seed: int
    stats: dict[str, PolicyStats]
    oracle: Oracle
    oracle_stats: PolicyStats
    rows: list[dict[str, Any]]
    out_dir: Path | None = None
    unbatched: Oracle | None = None
    unbatched_stats: PolicyStats | None = None
    files: list[Path] = field(default_factory=list)

    def oracle_joules(self, policy: str) -> float | None:
        """The oracle's joules per request at the policy's own attainment and drops."""
        stats = self.stats[policy]
        return self.oracle.joules_at(stats.met, stats.dropped)

    def unbatched_joules(self, policy: str) -> float | None:
        """The same for the unbatched oracle (None if it cannot reach that attainment)."""
        if self.unbatched is None:
            return None
        stats = self.stats[policy]
        return self.unbatched.joules_at(stats.met, stats.dropped)

    @property
    def best(self) -> PolicyStats:
        """The policy with the highest attainment (ties: fewer joules)."""
        return max(self.stats.values(), key=lambda s: (s.met, -s.energy_j))


def expected_requests(scenario: Scenario) -> int | None:
    """How many requests the workload will make (an estimate for Poisson by duration)."""
    workload = scenario.workload
    if isinstance(workload, Poisson):
        if workload.requests is not None:
            return workload.requests
        assert scenario.duration_s is not None
        return math.ceil(workload.rate_per_s * scenario.duration_s)
    times, _, _ = read_trace(resolve(workload.file, scenario.base_dir))
    count = len(times) if workload.requests is None else min(len(times), workload.requests)
    if scenario.duration_s is None:
        return count
    return int((times[:count] / workload.speedup <= scenario.duration_s).sum())


def simulate_policy(
    scenario: Scenario,
    policy: PolicySpec,
    seed: int,
    sinks: list[Sink],
    predictor: Predictor,
    progress: Progress | None = None,
) -> PolicyStats:
    """One policy's run; its records go to `sinks` (and to the returned summary)."""
    stats = PolicyStats(policy.label, horizon_s(scenario))
    quality = quality_for(predictor.catalog, seed)
    recorder = Recorder(policy.label, [stats, *sinks], progress, quality=quality)
    simulator = Simulator(scenario, policy.build(seed), seed, predictor)
    simulator.run(arrivals(scenario, seed), recorder)
    recorder.flush()
    if recorder.count != simulator.arrived or simulator.in_flight != 0:
        raise ConservationError(
            f"{policy.label}: {simulator.arrived} requests arrived, {recorder.count} ended, "
            f"{simulator.in_flight} still in flight"
        )
    return stats


def run_scenario(
    scenario: Scenario,
    out_dir: Path | None = None,
    policies: list[PolicySpec] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    plots: bool = True,
    records: bool = True,
    predictor: Predictor | None = None,
) -> RunResult:
    """Run every policy (default: the scenario's) and the oracle; write outputs if `out_dir`."""
    seed = scenario.seed if seed is None else seed
    policies = list(policies or scenario.policies)
    predictor = predictor or scenario.predictor()
    parquet = ParquetSink(out_dir / "requests.parquet") if out_dir and records else None
    stats: dict[str, PolicyStats] = {}
    try:
        for policy in policies:
            sinks: list[Sink] = [parquet] if parquet is not None else []
            stats[policy.label] = simulate_policy(
                scenario, policy, seed, sinks, predictor, progress
            )
    finally:
        if parquet is not None:
            parquet.close()
    records = parquet.path if parquet is not None else None
    return summarise(scenario, seed, stats, policies, predictor, out_dir, records, plots)


def summarise(
    scenario: Scenario,
    seed: int,
    stats: dict[str, PolicyStats],
    policies: list[PolicySpec],
    predictor: Predictor,
    out_dir: Path | None = None,
    records: Path | None = None,
    plots: bool = True,
) -> RunResult:
    """The oracle over the same arrivals, the summary rows and, if `out_dir`, summary.csv and
    the plots: for simulated policies, and for the same scenario run live (`edgetier load`)."""
    deciders = [policy.build(seed) for policy in policies]
    oracle = Oracle(scenario, predictor, deciders)
    unbatched = Oracle(scenario, predictor, deciders, batching=False)
    for arrival in arrivals(scenario, seed):
        oracle.add(arrival)
        unbatched.add(arrival)
    best = max(s.met for s in stats.values())
    horizon = horizon_s(scenario)
    oracle_stats = oracle.stats(best, horizon)
    unbatched_stats = unbatched.stats(best, horizon)
    rows = [s.row(oracle.joules_at(s.met, s.dropped)) for s in stats.values()]
    rows.append(oracle_stats.row(oracle_stats.joules_per_request))
    rows.append(unbatched_stats.row(oracle.joules_at(unbatched_stats.met)))
    result = RunResult(
        scenario, seed, stats, oracle, oracle_stats, rows, out_dir, unbatched, unbatched_stats
    )
    if out_dir is not None:
        write_csv(out_dir / "summary.csv", rows)
        result.files.append(out_dir / "summary.csv")
        if records is not None:
            result.files.append(records)
        if plots:
            from fleetsim import plots as plotting  # matplotlib loads only when plotting

            slos = [s for s in scenario.slo_s.values() if s] if scenario.slo_s else []
            result.files += plotting.write_all(
                out_dir,
                list(stats.values()),
                oracle_stats,
                oracle,
                [s * scenario.slo_scale for s in slos],
                unbatched_stats,
            )
    return result
