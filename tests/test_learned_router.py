"""The learned router: its file round-trips and bad files are named; what it learns from judged
answers approaches the correctness model's own posterior; its hint knows the request's
difficulty and random-substitution's does not; `edgetier router train` writes a file both
policies load, and the shipped file is what training on the shipped scenario writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fleetsim.router_training import train, training_seeds
from fleetsim.runner import run_scenario
from fleetsim.scenario import load_scenario
from fleetsim.simulator import Simulator
from fleetsim.workload import arrivals
from npu_sim.quality import default_quality
from routing import router_model
from routing.escalation import Outcome
from routing.policies.learned_router import DEFAULT_MODEL_FILE, LearnedRouter
from routing.policies.random_substitution import RandomSubstitution
from routing.request import Request
from routing.specs import PolicyError, PolicySpec
from tests.conftest import REPO

TINY = REPO / "scenarios" / "tiny.yaml"
MIXED = REPO / "scenarios" / "mixed-tasks.yaml"
RANDOM = "random-substitution"


def edgetier(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "edgetier", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def shipped() -> router_model.RouterModel:
    return router_model.load(DEFAULT_MODEL_FILE)


def test_a_router_file_round_trips_with_its_predictions(tmp_path: Path) -> None:
    model = shipped()
    again = router_model.load(model.save(tmp_path / "router.json"))
    assert again == model
    x = router_model.features("math", 0.3, 120)
    assert np.array_equal(again.predict(x), model.predict(x))
    assert again.as_json() == json.loads(DEFAULT_MODEL_FILE.read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other"), "not a learned-router file"),
        (lambda d: d.update(version=9), "version 9; this EdgeTier reads version 1"),
        (
            lambda d: d["weights"].update({"qwen2.5-7b": [1.0, 2.0]}),
            "weights.qwen2.5-7b: expected 9",
        ),
        (lambda d: d.update(target_quality=1.5), "target_quality: above 0 and at most 1"),
        (lambda d: d.update(hint_noise=-1), "hint_noise: a non-negative number"),
    ],
)
def test_a_bad_router_file_is_named_with_what_is_wrong(
    tmp_path: Path, edit: object, message: str
) -> None:
    data = json.loads(DEFAULT_MODEL_FILE.read_text())
    edit(data)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(router_model.RouterFileError, match=f"^{path}: .*{message}"):
        router_model.load(path)


def test_a_missing_or_unreadable_model_file_is_an_error_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"model_file: .*nowhere.json: no such file"):
        PolicySpec("learned-router", {"model_file": str(tmp_path / "nowhere.json")}).build()
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(PolicyError, match=r"model_file: .*not a JSON router file"):
        PolicySpec("random-substitution", {"model_file": str(tmp_path / "text.json")}).build()
    with pytest.raises(PolicyError, match="target_quality: above 0 and at most 1, got 2"):
        PolicySpec("learned-router", {"target_quality": 2}).build()


def test_fit_logistic_recovers_the_weights_that_generated_the_labels() -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(20_000), rng.normal(size=20_000), rng.normal(size=20_000)])
    truth = np.array([0.5, -1.5, 2.0])
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(x @ truth)))).astype(float)
    assert np.allclose(router_model.fit_logistic(x, y, ridge=0.0), truth, atol=0.08)


def test_the_shipped_routers_predictions_approach_the_correctness_models_posterior() -> None:
    """Trained on judged answers only, the router predicts P(correct | hint) about as the
    correctness model's exact posterior does: within 0.03 on average."""
    model, quality = shipped(), default_quality()
    errors = []
    for task in ("knowledge", "math", "code", "chat"):
        for hint in np.linspace(-3, 3, 13):
            predicted = dict(
                zip(
                    model.models,
                    model.predict(router_model.features(task, hint, 200)),
                    strict=True,
                )
            )
            for name in ("qwen2.5-0.5b", "qwen2.5-7b", "qwen2.5-72b"):
                exact = quality.p_correct_given_hint(name, task, float(hint), model.hint_noise)
                errors.append(abs(predicted[name] - exact))
    assert float(np.mean(errors)) < 0.03


def test_the_routers_hint_knows_the_difficulty_and_random_substitutions_does_not() -> None:
    router, blind = LearnedRouter(seed=3), RandomSubstitution(seed=3)
    quality = default_quality().with_seed(3)
    requests = [Request(f"r{i}", "qwen2.5-72b", 100, 50, task="knowledge") for i in range(4000)]
    difficulty = [quality.difficulty("knowledge", r.id) for r in requests]
    informed = np.corrcoef(difficulty, [router.hint(r, "knowledge") for r in requests])[0, 1]
    random = np.corrcoef(difficulty, [blind.hint(r, "knowledge") for r in requests])[0, 1]
    # corr(hint, d) = 1 / sqrt(1 + noise^2) = 0.62 at the published routers' noise.
    assert informed == pytest.approx(1 / np.sqrt(1 + router.model.hint_noise**2), abs=0.03)
    assert abs(random) < 0.05


def substitution_loss(policy: LearnedRouter, seed: int) -> tuple[float, float]:
    """On mixed-tasks, over the chat and knowledge requests for the 72B (the tasks on which
    learned-router substitutes some requests and keeps others): the mean P(correct) the 7B
    gives up against the 72B on the requests `policy` answered with another model, and on
    those it kept on the 72B."""
    scenario = load_scenario(MIXED)
    quality = default_quality().with_seed(seed)
    losses: dict[bool, list[float]] = {True: [], False: []}

    def judge(_: float, request: Request, outcome: Outcome) -> None:
        if request.model == "qwen2.5-72b" and request.task in ("chat", "knowledge"):
            loss = quality.p_correct("qwen2.5-72b", request.task, request.id) - quality.p_correct(
                "qwen2.5-7b", request.task, request.id
            )
            losses[outcome.model != request.model].append(loss)

    Simulator(scenario, policy, seed, scenario.predictor()).run(arrivals(scenario, seed), judge)
    return float(np.mean(losses[True])), float(np.mean(losses[False]))


def test_the_hint_decides_which_requests_the_router_substitutes_and_not_randoms() -> None:
    """The model is chosen on what its answers typically add, so the moment's batches do not
    drown the hint: the requests learned-router hands to another model are ones on which the
    7B loses clearly less than on those it keeps (0.114 against 0.152; choosing on what the
    answer adds at that instant, 0.123 against 0.130), and random-substitution's are not."""
    substituted, kept = substitution_loss(LearnedRouter(seed=2024), 2024)
    assert substituted < 0.85 * kept
    blind_substituted, blind_kept = substitution_loss(RandomSubstitution(seed=2024), 2024)
    assert blind_substituted > 0.9 * blind_kept


def test_router_train_writes_a_file_both_policies_run_with(tmp_path: Path) -> None:
    out = tmp_path / "router.json"
    done = edgetier("router", "train", str(TINY), "--out", str(out), "--seeds", "2", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    tiny = load_scenario(TINY)
    assert summary["seeds"] == training_seeds(tiny, 2) and tiny.seed not in summary["seeds"]
    model = router_model.load(out)
    assert model.target_quality == 0.95 and "qwen2.5-7b" in model.models
    specs = [PolicySpec(name, {"model_file": str(out)}) for name in ("learned-router", RANDOM)]
    result = run_scenario(tiny, None, specs, plots=False, records=False)
    for spec in specs:
        assert result.stats[spec.label].served > 0


def test_router_train_names_a_bad_target_and_exits_2(tmp_path: Path) -> None:
    out = str(tmp_path / "r.json")
    done = edgetier("router", "train", str(TINY), "--out", out, "--target-quality", "1.5")
    assert done.returncode == 2
    assert "--target-quality: must be a number > 0 and <= 1, got 1.5" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(600)
def test_the_shipped_router_file_is_what_training_on_the_shipped_scenario_writes() -> None:
    fresh = train(load_scenario(MIXED, {"policies": ["cloud-only"]}))
    kept = shipped()
    assert fresh.models == kept.models and fresh.trained_on == kept.trained_on
    for name in kept.models:
        assert np.allclose(fresh.weights[name], kept.weights[name], rtol=1e-5, atol=1e-7), name
    assert fresh.optimism == pytest.approx(kept.optimism, abs=1e-3)
    assert fresh.joules_per_correct_answer == pytest.approx(
        kept.joules_per_correct_answer, rel=0.01
    )
