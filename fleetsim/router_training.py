"""Training the learned router offline, on a scenario's traffic (`edgetier router train`).

1. Requests: the scenario's workload drawn with training seeds, never the scenario's own seed
   (by default five: seed + 1000 .. seed + 1004), so a run of the scenario evaluates the router
   on requests it was not trained on. Its LLM requests only.
2. Examples: for each request and each LLM the quality catalog knows, the features the router
   will see (task, the difficulty hint drawn with the training seed, prompt length) and whether
   that model answered it right (npu_sim.quality's sampled outcome for that seed): labelled
   outcomes, as a router of the field is trained on judged answers, never the abilities behind
   them.
3. Fit: one logistic regression per model (routing.router_model.fit_logistic), so one file
   serves any fleet of shipped models.
4. Trial runs: the policy simulated on the scenario with the training seeds. The first five
   (or all, when fewer)
   measure its optimism (the predicted quality of the answers it chose, over their true
   quality: it chooses on its predictions, so their errors are not neutral), which the policy
   then adds to its target; one more, so aimed, gives the price of a right answer a fresh
   router starts from and the share of requests it substitutes (random-substitution's default
   rate): where its own steering settled on this fleet, its load and its SLOs. The scenario's
   own seed is never used, so a `sim run` of it evaluates the router out of sample.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetsim.scenario import Scenario
from fleetsim.simulator import Simulator
from fleetsim.workload import arrivals
from npu_sim.models import LLM
from npu_sim.quality import DEFAULT_TASK, QualityModel, default_quality
from routing import router_model
from routing.answers import answer_quality
from routing.escalation import Outcome
from routing.policies.learned_router import LearnedRouter
from routing.request import Request
from routing.specs import PolicySpec

TRAINING_SEEDS = 5
SEED_OFFSET = 1000
DEFAULT_TARGET = 0.95
#: Joules per right answer the trainer's run starts the router from.
STARTING_PRICE = 1000.0
#: The router's optimism is measured on this many trial runs (the first training seeds).
TRIAL_SEEDS = 5


def training_seeds(scenario: Scenario, count: int = TRAINING_SEEDS) -> list[int]:
    """Seeds whose requests the router learns from: never the scenario's own."""
    return [scenario.seed + SEED_OFFSET + i for i in range(count)]


@dataclass(frozen=True)
class Examples:
    """The training set: one row per LLM request (of any seed)."""

    requests: list[tuple[int, Request]]  # (seed, request)
    x: np.ndarray  # features, one row per request
    correct: dict[str, np.ndarray]  # model -> 1.0 where it answered right, else 0.0


def examples(scenario: Scenario, seeds: Sequence[int], quality: QualityModel) -> Examples:
    catalog = scenario.predictor().catalog
    models = quality.catalog.llm_ids
    noise = quality.catalog.routing.hint_noise.value
    rows: list[tuple[int, Request]] = []
    x: list[list[float]] = []
    correct: dict[str, list[bool]] = {m: [] for m in models}
    for seed in seeds:
        drawn = quality.with_seed(seed)
        for arrival in arrivals(scenario, seed):
            request = arrival.request
            if not isinstance(catalog.model(request.model), LLM):
                continue
            task = request.task or DEFAULT_TASK
            rows.append((seed, request))
            hint = drawn.hint(task, request.id, noise)
            x.append(router_model.features(task, hint, request.prompt_tokens))
            for model in models:
                correct[model].append(drawn.outcome(model, task, request.id))
    if not rows:
        raise ValueError(f"scenario {scenario.name!r}: its workload has no LLM requests to learn")
    return Examples(
        rows,
        np.asarray(x, dtype=float),
        {m: np.asarray(v, dtype=float) for m, v in correct.items()},
    )


@dataclass(frozen=True)
class TrialRun:
    """learned-router run on the scenario: where its price settled, the quality it predicted
    for its answers and their true quality (both over the requested models'), and the share
    of requests it answered with another model."""

    price: float
    predicted_quality: float
    true_quality: float
    substitution_rate: float


def trial(scenario: Scenario, model: router_model.RouterModel, seed: int) -> TrialRun:
    """Run learned-router with `model` on the scenario with `seed`."""
    with tempfile.TemporaryDirectory() as scratch:
        path = model.save(Path(scratch) / "router.json")
        policy = PolicySpec("learned-router", {"model_file": str(path)}).build(seed)
    assert isinstance(policy, LearnedRouter)
    quality = default_quality().with_seed(seed)
    sums = np.zeros(5)  # predicted kept, predicted wanted, true kept, true wanted, substituted

    def judge(_: float, request: Request, outcome: Outcome) -> None:
        predicted = policy.predicted(request)
        answer = answer_quality(quality, request, outcome)
        if predicted and answer is not None and outcome.model in predicted:
            substituted = outcome.model != request.model
            sums[:] += (
                predicted[outcome.model],
                predicted[request.model],
                answer.p_correct,
                answer.requested_p_correct,
                substituted,
            )

    simulator = Simulator(scenario, policy, seed, scenario.predictor())
    simulator.run(arrivals(scenario, seed), judge)
    return TrialRun(
        float(f"{policy.price:.4g}"),
        float(sums[0] / sums[1]),
        float(sums[2] / sums[3]),
        float(sums[4] / simulator.arrived),
    )


def train(
    scenario: Scenario,
    seeds: Sequence[int] | None = None,
    target_quality: float = DEFAULT_TARGET,
    out: Path | None = None,
) -> router_model.RouterModel:
    """A router model fitted on the scenario's traffic, its price calibrated (module docstring);
    written to `out` when given."""
    if not 0 < target_quality <= 1:
        raise ValueError(f"target quality: between 0 and 1, got {target_quality}")
    seeds = list(seeds) if seeds is not None else training_seeds(scenario)
    quality = default_quality()
    data = examples(scenario, seeds, quality)
    weights = {
        model: tuple(float(f"{w:.8g}") for w in router_model.fit_logistic(data.x, labels))
        for model, labels in data.correct.items()
    }
    noise = quality.catalog.routing.hint_noise.value
    draft = router_model.RouterModel(weights, target_quality, STARTING_PRICE, noise)
    first = [trial(scenario, draft, seed) for seed in seeds[:TRIAL_SEEDS]]
    gaps = [run.predicted_quality - run.true_quality for run in first]
    optimism = float(f"{sum(gaps) / len(gaps):.4g}")
    aimed = router_model.RouterModel(weights, target_quality, first[0].price, noise, optimism)
    second = trial(scenario, aimed, seeds[0])
    model = router_model.RouterModel(
        weights,
        target_quality,
        second.price,
        noise,
        optimism,
        float(f"{second.substitution_rate:.4g}"),
        {
            "scenario": scenario.name,
            "seeds": seeds,
            "requests": len(data.requests),
            "target_quality": target_quality,
            "trial_seed": seeds[0],
            "trial_quality": float(f"{second.true_quality:.4g}"),
        },
    )
    if out is not None:
        model.save(out)
    return model
