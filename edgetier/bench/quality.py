"""`edgetier bench quality`: joules, SLO attainment and answer quality per policy, on mixed tasks.

Every built-in policy on scenarios/mixed-tasks.yaml (phones with the small Qwen2.5 models, edge
boxes with the 3B, the cloud with the 7B and the 72B; chat, code, maths and knowledge requests,
most asking for the 72B), through fleetsim, pooled over evaluation seeds (the scenario's and
the next ones; the shipped router was trained on others). Per policy: joules per request, SLO
attainment and quality_vs_requested (the answers' summed P(correct) over what the requested
models would have scored on the same requests). learned-router runs at its default target and
two higher ones (its energy-quality curve); random-substitution runs at the share of
substituted answers the cheapest router row reaching 0.95 measured, so the two differ only in
what the router's hint knows.

The question it answers: at quality_vs_requested >= 0.95, how many fewer joules per request
does the router spend than the cheapest policy that always answers with the requested model,
among those within 0.01 of the best SLO attainment, at an attainment at least that one's (within
0.005)? And how much quality does random substitution at the same rate keep? Writes the energy
against quality plot to results/bench/quality.png.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetier.argtypes import positive_int
from edgetier.bench import RESULTS_DIR, BenchResult
from fleetsim.runner import simulate_policy
from fleetsim.scenario import load_scenario
from routing.policies import BUILTINS
from routing.specs import PolicySpec

SCENARIO = Path(__file__).resolve().parent.parent.parent / "scenarios" / "mixed-tasks.yaml"
ROUTER, RANDOM = "learned-router", "random-substitution"
#: learned-router's targets beside its default: points further along its curve.
HIGHER_TARGETS = (0.96, 0.97)
TARGET_QUALITY = 0.95
TARGET_SAVING = 0.40
#: "Among those within 0.01 of the best SLO attainment", "at least that one's (within 0.005)".
BEST_SLO_BAND, SAME_SLO = 0.01, 0.005

COLUMNS = ["policy", "J/request", "SLO attainment", "quality_vs_requested", "substituted"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", type=Path, default=SCENARIO, help="scenario file")
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=3,
        help="evaluation seeds: the scenario's and the next ones",
    )


@dataclass
class Pooled:
    """A policy's figures summed over the evaluation seeds."""

    requests: int = 0
    met: int = 0
    energy_j: float = 0.0
    p_correct: float = 0.0
    requested_p_correct: float = 0.0
    substituted: int = 0

    @property
    def joules_per_request(self) -> float:
        return self.energy_j / self.requests

    @property
    def slo_attainment(self) -> float:
        return self.met / self.requests

    @property
    def quality_vs_requested(self) -> float | None:
        """None when it answered no LLM request (nothing to judge)."""
        return self.p_correct / self.requested_p_correct if self.requested_p_correct else None

    @property
    def substituted_share(self) -> float:
        return self.substituted / self.requests


def run_policy(scenario: Any, spec: PolicySpec, seeds: list[int]) -> Pooled:
    pooled = Pooled()
    predictor = scenario.predictor()
    for seed in seeds:
        stats = simulate_policy(scenario, spec, seed, [], predictor)
        pooled.requests += stats.requests
        pooled.met += stats.met
        pooled.energy_j += stats.energy_j
        pooled.p_correct += stats.p_correct
        pooled.requested_p_correct += stats.requested_p_correct
        pooled.substituted += stats.substituted or 0
    return pooled


def judge(results: dict[str, Pooled]) -> dict[str, Any]:
    """The issue's comparison (module docstring), from the pooled results.

    The band is taken from the best attainment of the policies answering with the requested
    model (those that serve any request), and the verdict says whether that is also within the
    band of the best over all policies: where the requested models cannot meet some SLOs at all
    (a 72B's longest answers) and a substituting policy can, no policy answering with the
    requested model is within 0.01 of the overall best, and the comparison is with the best
    any of them reaches."""
    overall = max(r.slo_attainment for r in results.values())
    answering = {name: r for name, r in results.items() if r.substituted == 0 and r.met > 0}
    best = max(r.slo_attainment for r in answering.values())
    requested = {
        name: r for name, r in answering.items() if r.slo_attainment >= best - BEST_SLO_BAND
    }
    baseline = min(requested, key=lambda name: requested[name].joules_per_request)
    base = results[baseline]
    routers = {
        name: r
        for name, r in results.items()
        if name.startswith(ROUTER)
        and (r.quality_vs_requested or 0) >= TARGET_QUALITY
        and r.slo_attainment >= base.slo_attainment - SAME_SLO
    }
    verdict: dict[str, Any] = {
        "baseline": baseline,
        "baseline_joules_per_request": base.joules_per_request,
        "baseline_slo_attainment": base.slo_attainment,
        "best_slo_attainment": overall,
        "baseline_within_band_of_best": base.slo_attainment >= overall - BEST_SLO_BAND,
        "router": None,
        "saving": None,
        "met": False,
    }
    if routers:
        router = min(routers, key=lambda name: routers[name].joules_per_request)
        saving = 1 - results[router].joules_per_request / base.joules_per_request
        verdict |= {"router": router, "saving": saving, "met": saving >= TARGET_SAVING}
    return verdict


def run(args: argparse.Namespace) -> BenchResult:
    scenario = load_scenario(args.scenario)
    seeds = [scenario.seed + i for i in range(max(1, args.seeds))]
    start = time.perf_counter()
    specs = [PolicySpec(name) for name in BUILTINS if name != RANDOM]
    specs += [PolicySpec(ROUTER, {"target_quality": t}) for t in HIGHER_TARGETS]
    results = {spec.label: run_policy(scenario, spec, seeds) for spec in specs}
    verdict = judge(results)
    matched = verdict["router"] or ROUTER
    rate = round(results[matched].substituted_share, 4)
    random_spec = PolicySpec(RANDOM, {"rate": rate})
    results[random_spec.label] = run_policy(scenario, random_spec, seeds)
    wall = time.perf_counter() - start

    from fleetsim import plots

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    curves: dict[str, list[tuple[float, float]]] = {}
    for name, r in results.items():
        if r.quality_vs_requested is not None:
            ref = name.split("(")[0]
            curves.setdefault(ref, []).append((r.quality_vs_requested, r.joules_per_request))
    figure = plots.energy_vs_quality(
        RESULTS_DIR / "quality.png",
        curves,
        f"{scenario.name}: energy against answer quality (seeds {seeds[0]}-{seeds[-1]})",
    )
    rows = [
        [name, r.joules_per_request, r.slo_attainment, r.quality_vs_requested, r.substituted_share]
        for name, r in results.items()
    ]
    random_row = results[random_spec.label]
    summary = {
        "policies": {
            name: {
                "joules_per_request": r.joules_per_request,
                "quality_vs_requested": r.quality_vs_requested,
                "slo_attainment": r.slo_attainment,
            }
            for name, r in results.items()
        },
        "scenario": scenario.name,
        "seeds": seeds,
        "substituted_share": {name: r.substituted_share for name, r in results.items()},
        "target": verdict | {"random_substitution_quality": random_row.quality_vs_requested},
        "wall_s": wall,
        "plot": str(figure),
    }
    notes = [
        f"{scenario.name}: {results[specs[0].label].requests} requests per policy over seeds "
        f"{', '.join(map(str, seeds))} (the shipped router was trained on other seeds), "
        f"{wall:.0f} s.",
        f"Cheapest policy answering with the requested model within {BEST_SLO_BAND} of the best "
        f"SLO attainment such a policy reaches: {verdict['baseline']}, "
        f"{verdict['baseline_joules_per_request']:.1f} J/request at "
        f"{verdict['baseline_slo_attainment']:.4f} (best of all policies "
        f"{verdict['best_slo_attainment']:.4f}"
        + ("" if verdict["baseline_within_band_of_best"] else ", more than the band above it")
        + ").",
    ]
    if verdict["router"] is None:
        notes.append(
            f"No {ROUTER} row reached quality_vs_requested {TARGET_QUALITY} at that attainment."
        )
    else:
        router = results[verdict["router"]]
        notes.append(
            f"{verdict['router']}: {router.joules_per_request:.1f} J/request at "
            f"{router.slo_attainment:.4f}, quality {router.quality_vs_requested:.4f}: "
            f"{100 * verdict['saving']:.1f}% fewer joules (target {100 * TARGET_SAVING:.0f}%: "
            f"{'met' if verdict['met'] else 'missed'})."
        )
    notes.append(
        f"{random_spec.label}: substitutes {random_row.substituted_share:.3f} of requests "
        f"(router {rate}), keeps quality {random_row.quality_vs_requested or 0:.4f}. "
        f"Plot: {figure}"
    )
    return BenchResult(
        "Answer quality against joules per policy, mixed tasks", COLUMNS, rows, summary, notes
    )
