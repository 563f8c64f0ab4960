"""The quality catalog covers every LLM, its abilities reproduce the published accuracies, and the
per-request draws are shared, deterministic and as informative as configured, no more."""

from __future__ import annotations

import itertools
import math
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npu_sim.catalog import UnknownNameError, default_catalog
from npu_sim.datafile import DataFileError
from npu_sim.models import LLM
from npu_sim.quality import (
    QUALITY_FILE,
    TASKS,
    TRACE_TASKS,
    QualityModel,
    default_quality,
    expected_accuracy,
    fit_ability,
    load_quality,
    logistic,
)

REQUESTS = 20_000
IDS = range(REQUESTS)


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney estimate: the chance a right answer outscores a wrong one."""
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores)] = np.arange(1, len(scores) + 1)
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def test_every_llm_of_the_model_catalog_has_figures_or_is_listed_missing_with_a_fallback() -> None:
    quality = default_quality()
    llms = {k for k, m in default_catalog().models_by_id.items() if isinstance(m, LLM)}
    assert set(quality.catalog.llm_ids) == llms
    for model in llms:
        for task in TASKS:
            published = task in quality.catalog.llm.get(model, {})
            assert published != ((model, task) in quality.catalog.missing)
            assert math.isfinite(quality.ability(model, task))
            assert quality.is_imputed(model, task) == (not published)
    assert len(quality.catalog.missing) == 11
    assert quality.catalog.missing_vision == ("vit-b-16",)


def test_every_figure_names_its_source_benchmark_and_setting() -> None:
    catalog = default_quality().catalog
    for scores in catalog.llm.values():
        for task, score in scores.items():
            assert score.source and score.setting
            assert catalog.benchmarks[score.benchmark].task == task
    assert all(v.source and v.metric for v in catalog.vision.values())
    assert all(t.source for t in catalog.tasks.values())


def test_fitted_abilities_reproduce_published_accuracies_exactly_by_quadrature() -> None:
    quality = default_quality()
    for model, scores in quality.catalog.llm.items():
        for task, score in scores.items():
            assert quality.accuracy(model, task) == pytest.approx(score.score / 100, abs=1e-9)


@pytest.mark.parametrize(("model", "task"), [("qwen2.5-0.5b", "math"), ("llama3.1-70b", "code")])
def test_fitted_abilities_reproduce_published_accuracies_over_many_requests(
    model: str, task: str
) -> None:
    quality = default_quality()
    published = quality.catalog.llm[model][task].score / 100
    hits = sum(quality.outcome(model, task, rid) for rid in IDS)
    # Bernoulli mean over 20,000 requests: 4.5 standard errors leave ~1e-5 false failures.
    tolerance = 4.5 * math.sqrt(published * (1 - published) / REQUESTS)
    assert abs(hits / REQUESTS - published) < tolerance


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.05, 4.0))
def test_fit_ability_inverts_expected_accuracy(accuracy: float, sd: float) -> None:
    assert float(expected_accuracy(fit_ability(accuracy, sd), sd)) == pytest.approx(
        accuracy, abs=1e-9
    )


def test_shared_difficulty_correlates_outcomes_and_a_weaker_model_right_implies_the_stronger() -> (
    None
):
    quality = default_quality()
    weak = np.array([quality.outcome("qwen2.5-0.5b", "math", rid) for rid in IDS])
    strong = np.array([quality.outcome("qwen2.5-7b", "math", rid) for rid in IDS])
    assert not np.any(weak & ~strong)
    # Independent draws would give phi = 0; the comonotone ceiling for accuracies 0.496 and
    # 0.916 is sqrt(0.496 * 0.084 / (0.916 * 0.504)) = 0.30.
    phi = np.corrcoef(weak, strong)[0, 1]
    assert phi > 0.25


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 2**40))
def test_draws_are_deterministic_for_a_seed_and_differ_across_seeds(seed: int, rid: int) -> None:
    assume(seed != 0)
    catalog = default_quality().catalog
    first, again, other = (
        QualityModel(catalog, seed),
        QualityModel(catalog, seed),
        QualityModel(catalog, 0),
    )
    assert first.difficulty("chat", rid) == again.difficulty("chat", rid)
    assert first.hint("chat", rid) == again.hint("chat", rid)
    assert first.confidence("qwen2-0.5b", "chat", rid) == again.confidence(
        "qwen2-0.5b", "chat", rid
    )
    assert first.difficulty("chat", rid) != other.difficulty("chat", rid)


def test_draws_do_not_depend_on_call_order() -> None:
    quality = QualityModel(default_quality().catalog, seed=7)
    forward = [quality.p_correct("llama3.2-1b", "knowledge", rid) for rid in range(50)]
    backward = [quality.p_correct("llama3.2-1b", "knowledge", rid) for rid in reversed(range(50))]
    assert forward == backward[::-1]


@pytest.mark.parametrize("auroc", [0.6, 0.7461, 0.9])
def test_confidence_separates_right_from_wrong_answers_with_the_configured_auroc(
    auroc: float,
) -> None:
    quality = default_quality()
    model, task = "qwen2.5-1.5b", "chat"
    right = np.array([quality.outcome(model, task, rid) for rid in IDS])
    conf = np.array([quality.confidence(model, task, rid, auroc) for rid in IDS])
    # Hanley-McNeil standard error of an AUROC; 4.5 of them as the tolerance.
    pos, neg = right.sum(), (~right).sum()
    q1, q2 = auroc / (2 - auroc), 2 * auroc * auroc / (1 + auroc)
    var = (auroc * (1 - auroc) + (pos - 1) * (q1 - auroc**2) + (neg - 1) * (q2 - auroc**2)) / (
        pos * neg
    )
    assert abs(_auroc(conf, right) - auroc) < 4.5 * math.sqrt(var)


def test_default_hint_noise_routes_as_well_as_routellms_default_router_and_no_better() -> None:
    """RouteLLM's matrix-factorisation router recovers on average 0.564 of the Mixtral-8x7B to
    GPT-4 gap on GSM8K (APGR; see quality.yaml). Routing the highest-hint requests to the strong
    model, with the default noise, must do the same for a pair at those accuracies (63.7% and
    85.8%, from RouteLLM's released GSM8K responses). A request's share of the integral over all
    routed fractions is the rank of its hint, so APGR = E[gain * rank] / E[gain]."""
    quality = default_quality()
    sd = quality.catalog.tasks["math"].difficulty_sd
    weak, strong = fit_ability(0.6373, sd), fit_ability(0.8577, sd)
    d = np.array([quality.difficulty("math", rid) for rid in IDS])
    hint = np.array([quality.hint("math", rid) for rid in IDS])
    gain = logistic(strong - d) - logistic(weak - d)
    rank = (np.argsort(np.argsort(hint)) + 0.5) / REQUESTS
    apgr = float((gain * rank).sum() / gain.sum())
    assert apgr == pytest.approx(0.564, abs=0.006)
    oracle = np.argsort(np.argsort(d))
    assert float((gain * (oracle + 0.5) / REQUESTS).sum() / gain.sum()) > apgr + 0.03


def test_p_correct_given_hint_is_the_average_over_requests_with_that_hint() -> None:
    quality = default_quality()
    model, task = "qwen2.5-3b", "knowledge"
    hints = np.array([quality.hint(task, rid) for rid in IDS])
    truth = np.array([quality.p_correct(model, task, rid) for rid in IDS])
    predicted = np.array([quality.p_correct_given_hint(model, task, h) for h in hints])
    assert abs(predicted.mean() - truth.mean()) < 0.01
    assert np.corrcoef(predicted, truth)[0, 1] > 0.4
    assert quality.p_correct_given_hint(model, task, 0.0, noise=0.0) == pytest.approx(
        float(logistic(quality.ability(model, task)))
    )


def test_trace_tasks_map_conversation_to_chat_and_code_to_code() -> None:
    assert TRACE_TASKS == {"conversation": "chat", "code": "code"}
    assert set(TRACE_TASKS.values()) <= set(TASKS)


def test_unknown_model_or_task_lists_the_valid_names() -> None:
    quality = default_quality()
    with pytest.raises(UnknownNameError, match=r"qwen2\.5-7b"):
        quality.outcome("qwen9-1b", "math", 1)
    with pytest.raises(UnknownNameError, match="knowledge"):
        quality.outcome("qwen2.5-7b", "poetry", 1)


def test_vision_models_have_published_accuracy_with_metric() -> None:
    score = default_quality().vision_accuracy("yolov8s")
    assert score is not None and score.score == 44.9 and "COCO" in score.metric
    assert default_quality().vision_accuracy("vit-b-16") is None


def _bad_copy(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "quality.yaml"
    shutil.copy(QUALITY_FILE, path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "marker"),
    [
        ("score: 37.9,", "score: 137.9,", "llm.qwen2-0.5b.knowledge.score", "score: 137.9"),
        ("score: 40.1,", "score: 40.1, shots: 4,", "llm.qwen2-0.5b.math.shots", "shots: 4"),
        (
            "benchmark: gsm8k, score: 40.1",
            "benchmark: gsm9k, score: 40.1",
            "llm.qwen2-0.5b.math.benchmark",
            "gsm9k",
        ),
        (
            "benchmark: gsm8k, score: 61.6",
            "benchmark: mmlu, score: 61.6",
            "llm.qwen2-1.5b.math.benchmark",
            "mmlu, score: 61.6",
        ),
        ("  qwen3-0.6b:\n", "  qwen3-0.7b:\n", "llm.qwen3-0.7b", "qwen3-0.7b:"),
        (
            "difficulty_sd: 0.904",
            "difficulty_sd: -1",
            "tasks.math.difficulty_sd",
            "difficulty_sd: -1",
        ),
        ("value: 0.7461", "value: 1.5", "routing.confidence_auroc.value", "value: 1.5"),
    ],
)
def test_bad_quality_file_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, marker: str
) -> None:
    path = _bad_copy(tmp_path, old, new)
    with pytest.raises(DataFileError) as caught:
        load_quality(path)
    message = str(caught.value)
    assert f"{path}:{_line_of(path, marker)}: {field}" in message


def test_ability_is_increasing_in_published_accuracy() -> None:
    quality = default_quality()
    pairs = sorted(
        (s.score, quality.ability(m, t))
        for m, scores in quality.catalog.llm.items()
        for t, s in scores.items()
        if t == "math"
    )
    assert all(a1 < a2 for (_, a1), (_, a2) in itertools.pairwise(pairs))
    assert statistics.fmean(a for _, a in pairs) > 0


def test_an_answer_carries_the_answering_and_the_requested_models_p_correct_for_one_request() -> (
    None
):
    quality = default_quality().with_seed(5)
    assert quality.ability("qwen2.5-7b", "math") == default_quality().ability("qwen2.5-7b", "math")
    answer = quality.answer("qwen2.5-0.5b", "qwen2.5-72b", "math", "r9")
    assert answer.task == "math"
    assert answer.p_correct == pytest.approx(quality.p_correct("qwen2.5-0.5b", "math", "r9"))
    assert answer.requested_p_correct == pytest.approx(
        quality.p_correct("qwen2.5-72b", "math", "r9")
    )
    assert answer.correct == quality.outcome("qwen2.5-0.5b", "math", "r9")
    assert quality.answer("qwen2.5-7b", "qwen2.5-7b", None, "r9").task == "chat"
    assert quality.answers_for("qwen2.5-7b") and not quality.answers_for("yolov8s")
