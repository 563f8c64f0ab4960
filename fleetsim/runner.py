"""Running a scenario: every policy over the same requests, then the energy bounds, then the
outputs.

Each policy gets a fresh fleet (engines idle, models preloaded) and the same request stream
(regenerated from the seed, not stored). Then the two ends of what energy could be: the lower
bound (fleetsim.bound, a linear program no run can beat) at each policy's attainment and drops,
and the offline feasible schedule (fleetsim.schedule), a clairvoyant plan run through this same
simulator at the best policy's attainment. The optimum lies between them. Outputs in `out_dir`:

    requests.parquet   one row per request and policy (fleetsim.records)
    summary.csv        one row per policy, plus lower-bound and offline-feasible (fleetsim.summary)
    *.png              plots (fleetsim.plots)

Conservation is checked, not assumed: every request that arrived has exactly one outcome per
policy (the offline schedule's run included), or the run fails.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetsim.bound import LowerBound
from fleetsim.options import collect
from fleetsim.records import ParquetSink, Recorder, Sink
from fleetsim.scenario import Poisson, Scenario
from fleetsim.schedule import make_plan
from fleetsim.simulator import Simulator
from fleetsim.summary import COLUMNS, PolicyStats, write_csv
from fleetsim.workload import arrivals, horizon_s
from fleetsim.workload.trace import read_trace, resolve
from npu_sim.predictor import Predictor
from npu_sim.quality import quality_for
from routing.policy import Policy
from routing.request import Request
from routing.specs import PolicySpec

Progress = Callable[[int], None]
#: Runs within this attainment of the best, and every run where the program has at most
#: `EXACT_OPTIONS` options, get the bound solved at their own attainment and drops (a linear
#: program each); the others its dual tangent (`LowerBound.tangent_at`): as valid, looser, and
#: free where the small city's program takes most of a minute a solve.
EXACT_WITHIN = 0.01
EXACT_OPTIONS = 50_000


class ConservationError(RuntimeError):
    """A request ended twice or never: a simulator bug, never a result."""


@dataclass
class RunResult:
    scenario: Scenario
    seed: int
    stats: dict[str, PolicyStats]
    bound: LowerBound
    rows: list[dict[str, Any]]
    out_dir: Path | None = None
    #: The lower bound at the best policy's attainment and drops (J/request; None: unreachable),
    #: the best among the policies answering with the requested model when any did.
    lower_j: float | None = None
    reference: PolicyStats | None = None
    #: The offline feasible schedule's run (None when the bound is unreachable or not asked for).
    feasible: PolicyStats | None = None
    #: Wall seconds to build the bound's program and solve it at the best attainment.
    solve_s: float = 0.0
    #: The lower bound (J/request) at each run's own attainment and drops, by policy.
    bounds: dict[str, float | None] = field(default_factory=dict)
    #: The runs bounded by `bound` itself (the others: by the program with substitutes).
    same_service: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)

    def bound_joules(self, policy: str) -> float | None:
        """The lower bound's joules per request at the policy's own attainment and drops."""
        return self.bounds[policy]

    @property
    def best(self) -> PolicyStats:
        """The policy with the highest attainment (ties: fewer joules)."""
        return best_of(self.stats.values())


def best_of(stats: Iterable[PolicyStats]) -> PolicyStats:
    """The highest attainment (ties: fewer joules)."""
    return max(stats, key=lambda s: (s.met, -s.energy_j))


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
    return simulate(scenario, policy.label, policy.build(seed), seed, sinks, predictor, progress)


def simulate(
    scenario: Scenario,
    label: str,
    policy: Policy,
    seed: int,
    sinks: list[Sink],
    predictor: Predictor,
    progress: Progress | None = None,
    release: Callable[[Request], float] | None = None,
) -> PolicyStats:
    """A built policy's run under `label` (the offline plan is one, with the times it holds
    requests to, `release`); conservation is checked here, for every caller."""
    stats = PolicyStats(label, horizon_s(scenario))
    quality = quality_for(predictor.catalog, seed)
    recorder = Recorder(label, [stats, *sinks], progress, quality=quality)
    simulator = Simulator(scenario, policy, seed, predictor, release)
    simulator.run(arrivals(scenario, seed), recorder)
    recorder.flush()
    stats.fleet_energy_j = simulator.nodes_energy_j() + stats.network_j
    if recorder.count != simulator.arrived or simulator.in_flight != 0:
        raise ConservationError(
            f"{label}: {simulator.arrived} requests arrived, {recorder.count} ended, "
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
    feasible: bool = True,
) -> RunResult:
    """Run every policy (default: the scenario's), the bound and (if `feasible`) the offline
    schedule; write outputs if `out_dir`."""
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
    return summarise(scenario, seed, stats, policies, predictor, out_dir, records, plots, feasible)


def summarise(
    scenario: Scenario,
    seed: int,
    stats: dict[str, PolicyStats],
    policies: list[PolicySpec],
    predictor: Predictor,
    out_dir: Path | None = None,
    records: Path | None = None,
    plots: bool = True,
    feasible: bool = True,
) -> RunResult:
    """The bound (and, if `feasible`, the offline schedule's run) over the same arrivals, the
    summary rows and, if `out_dir`, summary.csv and the plots: for simulated policies, and for
    the same scenario run live (`edgetier load`)."""
    started = time.perf_counter()
    # Policies that answer with the requested model are bounded over the requested model's
    # placements; those that may answer with another (`Policy.substitutes`: the cascade, the
    # learned router) over those placements and their substitutes: a cheaper answer is not
    # the same service, so it does not set the bound of the ones that never give it.
    deciders = {policy.label: policy.build(seed) for policy in policies}
    substituting = {
        label: type(d).substitutes is not Policy.substitutes for label, d in deciders.items()
    }
    programs: dict[bool, LowerBound] = {}
    for kind in sorted(set(substituting.values())):
        mine = [d for label, d in deciders.items() if substituting[label] == kind]
        options = collect(scenario, predictor, mine, arrivals(scenario, seed))
        programs[kind] = LowerBound(options)
    plain = [s for label, s in stats.items() if not substituting.get(label, False)]
    best = best_of(plain or stats.values())
    bound = programs[not plain]
    result = RunResult(scenario, seed, stats, bound, [], out_dir, reference=best)
    relaxation = bound.solve(best.met, best.dropped)
    result.solve_s = time.perf_counter() - started
    runs = [(s, programs[substituting.get(label, False)]) for label, s in stats.items()]
    if relaxation is not None:
        result.lower_j = relaxation.joules / max(bound.requests, 1)
        if feasible:
            plan = make_plan(bound.options, relaxation, scenario, predictor)
            result.feasible = simulate(
                scenario, plan.name, plan, seed, [], predictor, release=plan.release
            )
            runs.append((result.feasible, bound))
    for program in programs.values():  # each program solved once at its best run
        top = best_of(s for s, p in runs if p is program)
        program.solve(top.met, top.dropped)
    for run, program in runs:
        top = best_of(s for s, p in runs if p is program)
        near = run.met >= top.met - EXACT_WITHIN * run.requests
        near = near or len(program.options.request) <= EXACT_OPTIONS
        at = program.joules_at if near else program.tangent_at
        result.bounds[run.policy] = at(run.met, run.dropped)
        if program is bound:
            result.same_service.add(run.policy)
    rows = [s.row(result.bound_joules(name)) for name, s in stats.items()]
    rows.append(bound_row(best, result.lower_j))
    if result.feasible is not None:
        rows.append(result.feasible.row(result.bound_joules(result.feasible.policy)))
    result.rows = rows
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
                bound_curve(result),
                result.feasible,
                [s * scenario.slo_scale for s in slos],
            )
    return result


def bound_row(best: PolicyStats, joules: float | None) -> dict[str, Any]:
    """The summary's lower-bound row: the least joules per request of any run at the best
    policy's attainment and drops (a number, not a run: no latencies or tiers)."""
    return {
        **dict.fromkeys(COLUMNS),
        "policy": "lower-bound",
        "requests": best.requests,
        "dropped": best.dropped,
        "slo_attainment": best.attainment,
        "joules_per_request": joules,
        "joules_vs_bound": 1.0 if joules else None,
    }


def bound_curve(result: RunResult) -> list[tuple[float, float]]:
    """The headline bound at the attainment and drops of each policy it bounds, by attainment:
    (attainment, J)."""
    points = {}
    for name, stats in result.stats.items():
        joules = result.bound_joules(name)
        if joules and name in result.same_service:  # 0: a tangent that says nothing
            points[(stats.met, stats.dropped)] = (stats.attainment, joules)
    return sorted(points.values())
