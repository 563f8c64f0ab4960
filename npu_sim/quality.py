"""Answer quality: published accuracies per (model, task) and a per-request correctness model.

A request answered by a 0.5B model on the phone instead of a 7B model in the cloud saves joules but
gives a different answer; this module says how likely that answer is right. It follows item
response theory (the Rasch model): each request draws a latent difficulty d ~ Normal(0, sd_task),
shared by every model, and model m answers it correctly with probability logistic(a[m, task] - d).
The ability a[m, task] is solved so that E_d[logistic(a - d)] equals the model's published
accuracy (quality.yaml), so a simulated population of requests reproduces the benchmark figure,
while a question hard for the small model is likely hard for the large one too.

Every random draw is a hash of (seed, request id, stream), never a generator's state: the same
request gets the same difficulty, outcome, confidence and hint in a live run and a simulation, in
any order and in any process. Outcomes of different models share one uniform per request, so they
are monotone in ability: if a weaker model is right, every stronger one is right too.

Missing figures: a (model, task) pair with no published figure is filled by an additive fit of
the known abilities, a[m, t] = r_m + c_t (least squares over the known pairs): a model's strength
carries across tasks and each task keeps its own level, the simplest rule that uses all the
evidence. A model with no figure at all gets the weakest known model's r_m, so routing never
credits it with more than the evidence supports.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal, cast, get_args

import numpy as np
import pydantic
from pydantic import ConfigDict, PositiveFloat

from npu_sim import datafile
from npu_sim.catalog import DATA_DIR, Catalog, UnknownNameError, default_catalog
from npu_sim.fastinit import fast_init
from npu_sim.models import LLM

Task = Literal["knowledge", "math", "code", "chat"]
#: The task families every request belongs to.
TASKS: tuple[Task, ...] = get_args(Task)
#: Tasks of the Azure LLM inference traces' two files (conversation and code) by default.
TRACE_TASKS: Mapping[str, Task] = {"conversation": "chat", "code": "code"}
#: The task of an LLM request that names none: a conversation turn, the commonest request (and
#: every request of the conversation trace). Vision requests have no task family.
DEFAULT_TASK: Task = "chat"

QUALITY_FILE = DATA_DIR / "quality.yaml"
RequestId = int | str
_STRICT = ConfigDict(extra="forbid")
_NORMAL = statistics.NormalDist()
# Gauss-Hermite (probabilists') nodes: E[f(Z)], Z ~ N(0, 1), exact for polynomials of degree
# < 2 * 96; the logistic is smooth, so abilities reproduce the accuracies to ~1e-12.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(96)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class TaskFamily:
    """A task family: how widely its requests' latent difficulties spread (logits)."""

    __pydantic_config__: ClassVar = _STRICT
    difficulty_sd: PositiveFloat
    source: str


@dataclass(frozen=True)
class Benchmark:
    """A published benchmark and the task family its figures stand for."""

    __pydantic_config__: ClassVar = _STRICT
    task: Task
    description: str


@dataclass(frozen=True)
class Score:
    """One published figure, in percent, as the source prints it."""

    __pydantic_config__: ClassVar = _STRICT
    benchmark: str
    score: Annotated[float, pydantic.Field(gt=0, lt=100)]
    variant: Literal["base", "instruct"]
    setting: str
    source: str


@dataclass(frozen=True)
class VisionScore:
    """A vision model's published accuracy (mAP or top-1), in percent."""

    __pydantic_config__: ClassVar = _STRICT
    metric: str
    score: Annotated[float, pydantic.Field(gt=0, le=100)]
    source: str


@dataclass(frozen=True)
class Default:
    """A default parameter of the observation models, with where it comes from."""

    __pydantic_config__: ClassVar = _STRICT
    value: float
    source: str


@dataclass(frozen=True)
class RoutingDefaults:
    __pydantic_config__: ClassVar = _STRICT
    confidence_auroc: Default
    hint_noise: Default


@dataclass(frozen=True)
class _QualityFile:
    __pydantic_config__: ClassVar = _STRICT
    tasks: dict[Task, TaskFamily]
    benchmarks: dict[str, Benchmark]
    llm: dict[str, dict[Task, Score]]
    vision: dict[str, VisionScore]
    routing: RoutingDefaults


@dataclass(frozen=True)
class QualityCatalog:
    """The validated quality file, with the (model, task) pairs it has no figure for."""

    tasks: dict[Task, TaskFamily]
    benchmarks: dict[str, Benchmark]
    llm: dict[str, dict[Task, Score]]
    vision: dict[str, VisionScore]
    routing: RoutingDefaults
    #: Every LLM id the quality model answers for (the model catalog's LLMs).
    llm_ids: tuple[str, ...]
    #: (model, task) pairs with no published figure, filled by the additive fallback.
    missing: tuple[tuple[str, Task], ...]
    #: Vision models of the catalog with no published accuracy here.
    missing_vision: tuple[str, ...]


def load_quality(
    path: Path = QUALITY_FILE,
    llm_ids: tuple[str, ...] | None = None,
    vision_ids: tuple[str, ...] | None = None,
) -> QualityCatalog:
    """Load and validate a quality file against the model ids it must describe (by default the
    shipped model catalog's). Errors name the file, line and field; unknown keys are errors."""
    if llm_ids is None or vision_ids is None:
        models = default_catalog().models_by_id
        llm_ids = tuple(k for k, m in models.items() if isinstance(m, LLM))
        vision_ids = tuple(k for k, m in models.items() if not isinstance(m, LLM))
    data, node = datafile.parse_yaml(path)
    parsed: _QualityFile = datafile.validate(path, data, node, _QualityFile)
    problems: list[tuple[tuple[int | str, ...], str]] = []
    missing_tasks = [t for t in TASKS if t not in parsed.tasks]
    if missing_tasks:
        problems.append(
            (("tasks",), f"every task family needs a difficulty_sd; missing {missing_tasks}")
        )
    for model, scores in parsed.llm.items():
        if model not in llm_ids:
            problems.append(
                (("llm", model), f"not an LLM of the model catalog; valid: {', '.join(llm_ids)}")
            )
        for task, score in scores.items():
            bench = parsed.benchmarks.get(score.benchmark)
            if bench is None:
                valid = ", ".join(parsed.benchmarks)
                problems.append(
                    (
                        ("llm", model, task, "benchmark"),
                        f"unknown benchmark {score.benchmark!r}; valid: {valid}",
                    )
                )
            elif bench.task != task:
                problems.append(
                    (
                        ("llm", model, task, "benchmark"),
                        f"{score.benchmark} measures {bench.task}, not {task}",
                    )
                )
    for model in parsed.vision:
        if model not in vision_ids:
            problems.append(
                (
                    ("vision", model),
                    f"not a vision model of the catalog; valid: {', '.join(vision_ids)}",
                )
            )
    auroc = parsed.routing.confidence_auroc.value
    if not 0.5 < auroc < 1:
        problems.append(
            (("routing", "confidence_auroc", "value"), "must lie strictly between 0.5 and 1")
        )
    if parsed.routing.hint_noise.value < 0:
        problems.append((("routing", "hint_noise", "value"), "must not be negative"))
    if problems:
        raise datafile.errors_at(path, node, problems)
    missing = tuple((m, t) for m in llm_ids for t in TASKS if t not in parsed.llm.get(m, {}))
    return QualityCatalog(
        tasks=parsed.tasks,
        benchmarks=parsed.benchmarks,
        llm=parsed.llm,
        vision=parsed.vision,
        routing=parsed.routing,
        llm_ids=tuple(llm_ids),
        missing=missing,
        missing_vision=tuple(v for v in vision_ids if v not in parsed.vision),
    )


def logistic(x: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def expected_accuracy(ability: float | np.ndarray, difficulty_sd: float) -> float | np.ndarray:
    """E_d[logistic(a - d)], d ~ Normal(0, difficulty_sd), by Gauss-Hermite quadrature."""
    a = np.asarray(ability, dtype=float)[..., None]
    return (logistic(a - difficulty_sd * _NODES) * _WEIGHTS).sum(-1)


def fit_ability(accuracy: float | np.ndarray, difficulty_sd: float) -> float | np.ndarray:
    """The ability whose expected accuracy over the difficulty distribution is `accuracy`.

    Vectorised bisection on [-60, 60] logits: the expected accuracy is increasing in the ability,
    and 100 halvings bring the bracket below float resolution, so no convergence test is needed.
    """
    target = np.asarray(accuracy, dtype=float)
    if np.any((target <= 0) | (target >= 1)):
        raise ValueError("accuracy must lie strictly between 0 and 1")
    lo, hi = np.full(target.shape, -60.0), np.full(target.shape, 60.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        below = expected_accuracy(mid, difficulty_sd) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def _fill_missing(
    known: dict[tuple[str, Task], float], models: tuple[str, ...]
) -> dict[tuple[str, Task], float]:
    """Abilities of the missing pairs by the additive fit a[m, t] = r_m + c_t (module docstring).

    Alternating least squares: with the task effects fixed, each model's effect is the mean of its
    residuals, and vice versa; 200 sweeps converge far below the precision that matters here.
    """
    row = dict.fromkeys(models, 0.0)
    col = dict.fromkeys(TASKS, 0.0)
    for _ in range(200):
        for t in TASKS:
            res = [a - row[m] for (m, tt), a in known.items() if tt == t]
            col[t] = float(np.mean(res)) if res else 0.0
        for m in models:
            res = [a - col[t] for (mm, t), a in known.items() if mm == m]
            row[m] = float(np.mean(res)) if res else math.nan
    weakest = min(v for v in row.values() if not math.isnan(v))
    row = {m: weakest if math.isnan(v) else v for m, v in row.items()}
    return {(m, t): row[m] + col[t] for m in models for t in TASKS if (m, t) not in known}


def _uniform(seed: int, request_id: RequestId, stream: str) -> float:
    """A uniform in (0, 1) from a hash: the same for the same (seed, request, stream) in every
    process and call order, independent across streams and requests."""
    digest = hashlib.blake2b(f"{seed}\x1f{request_id}\x1f{stream}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def _normal(seed: int, request_id: RequestId, stream: str) -> float:
    return _NORMAL.inv_cdf(_uniform(seed, request_id, stream))


@fast_init
@dataclass(frozen=True, slots=True)
class Answer:
    """The quality of one answer: its task, the answering model's P(correct) and sampled
    outcome, and the P(correct) the requested model would have had on the same request."""

    task: str
    p_correct: float
    correct: bool
    requested_p_correct: float


@dataclass(frozen=True)
class QualityModel:
    """The correctness model over a quality catalog, with the seed of its draws."""

    catalog: QualityCatalog
    seed: int = 0
    _ability: dict[tuple[str, Task], float] = field(init=False, repr=False)
    _models: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_models", frozenset(self.catalog.llm_ids))
        known = {
            (m, t): float(fit_ability(s.score / 100, self.catalog.tasks[t].difficulty_sd))
            for m, scores in self.catalog.llm.items()
            for t, s in scores.items()
        }
        filled = _fill_missing(known, self.catalog.llm_ids)
        object.__setattr__(self, "_ability", {**known, **filled})

    def with_seed(self, seed: int) -> QualityModel:
        """The same model (abilities not refitted) drawing with another seed: a run's seed."""
        other = copy.copy(self)
        object.__setattr__(other, "seed", seed)
        return other

    def answers_for(self, model: str) -> bool:
        """Whether `model` is an LLM this model gives a P(correct) for (vision models: no)."""
        return model in self._models

    def answer(self, model: str, requested: str, task: str | None, request_id: RequestId) -> Answer:
        """The quality of `model`'s answer to a request for `requested` (task None: the default
        task): its P(correct), its sampled outcome, and the requested model's P(correct) for
        the same request, against which a substitute's answer is measured."""
        task = task or DEFAULT_TASK
        ability = self._ability.get((model, task))
        wanted_ability = self._ability.get((requested, task))
        if ability is None or wanted_ability is None:  # raise the error that names them
            self._check(model, task)
            self._check(requested, task)
        # difficulty(), p_correct() and outcome() inlined: fleetsim asks for every LLM request.
        d = self.catalog.tasks[task].difficulty_sd * _normal(self.seed, request_id, "difficulty")
        p = 1.0 / (1.0 + math.exp(d - ability))
        wanted = 1.0 / (1.0 + math.exp(d - wanted_ability))
        return Answer(task, p, _uniform(self.seed, request_id, "outcome") < p, wanted)

    def _check(self, model: str, task: str) -> tuple[str, Task]:
        if task not in TASKS:
            raise UnknownNameError("task", task, list(TASKS))
        if model not in self.catalog.llm_ids:
            raise UnknownNameError("model", model, sorted(self.catalog.llm_ids))
        return model, cast(Task, task)

    def ability(self, model: str, task: str) -> float:
        """a[model, task] in logits: fitted to the published figure, or filled (`is_imputed`)."""
        return self._ability[self._check(model, task)]

    def is_imputed(self, model: str, task: str) -> bool:
        return self._check(model, task) in self.catalog.missing

    def accuracy(self, model: str, task: str) -> float:
        """Expected accuracy over all requests of the task: the published figure / 100 when the
        pair has one, else what the fallback ability implies."""
        model, task = self._check(model, task)
        return float(expected_accuracy(self._ability[model, task], self._sd(task)))

    def _sd(self, task: Task) -> float:
        return self.catalog.tasks[task].difficulty_sd

    def difficulty(self, task: str, request_id: RequestId) -> float:
        """The request's latent difficulty d (logits), the same whichever model answers it."""
        if task not in TASKS:
            raise UnknownNameError("task", task, list(TASKS))
        return self._sd(cast(Task, task)) * _normal(self.seed, request_id, "difficulty")

    def p_correct(self, model: str, task: str, request_id: RequestId) -> float:
        """P(correct | model, task, this request's difficulty) = logistic(a - d)."""
        model, task = self._check(model, task)
        return float(logistic(self._ability[model, task] - self.difficulty(task, request_id)))

    def outcome(self, model: str, task: str, request_id: RequestId) -> bool:
        """Whether `model` answers this request correctly. One uniform per request, shared by
        all models, so a right answer from a weaker model implies one from any stronger model."""
        return _uniform(self.seed, request_id, "outcome") < self.p_correct(model, task, request_id)

    def confidence(
        self, model: str, task: str, request_id: RequestId, auroc: float | None = None
    ) -> float:
        """The model's confidence in its own answer, in (0, 1): a noisy observation of whether it
        is right, whose AUROC for telling right from wrong is `auroc` (default from the file).

        Binormal model: score = mu * correct + N(0, 1) has AUROC Phi(mu / sqrt 2), so
        mu = sqrt 2 * Phi^-1(auroc); the logistic of (score - mu/2) maps it to (0, 1) without
        changing its ranking, with 0.5 halfway between the right and wrong means.
        """
        auroc = self.catalog.routing.confidence_auroc.value if auroc is None else auroc
        if not 0.5 <= auroc < 1:
            raise ValueError(f"auroc must lie in [0.5, 1), got {auroc}")
        mu = math.sqrt(2) * _NORMAL.inv_cdf(auroc) if auroc > 0.5 else 0.0
        right = self.outcome(model, task, request_id)
        score = mu * right + _normal(self.seed, request_id, f"confidence\x1f{model}")
        return float(logistic(score - mu / 2))

    def hint(self, task: str, request_id: RequestId, noise: float | None = None) -> float:
        """What a learned router can know of the difficulty when the request arrives:
        d + noise * sd_task * Z (logits). `noise` is relative to the task's spread, so one
        value means the same hint quality everywhere: corr(hint, d) = 1 / sqrt(1 + noise^2).
        The default is calibrated to the routing quality published routers reach (quality.yaml)."""
        noise = self._noise(noise)
        d = self.difficulty(task, request_id)
        return d + noise * self._sd(cast(Task, task)) * _normal(self.seed, request_id, "hint")

    def p_correct_given_hint(
        self, model: str, task: str, hint: float, noise: float | None = None
    ) -> float:
        """P(model answers correctly | the hint): what a router can compute without seeing d.
        d | hint is Normal(k * hint, k * noise^2 * sd^2) with k = 1 / (1 + noise^2)."""
        model, task = self._check(model, task)
        noise = self._noise(noise)
        k = 1.0 / (1.0 + noise * noise)
        mean, sd = k * hint, math.sqrt(k) * noise * self._sd(task)
        return float((logistic(self._ability[model, task] - mean - sd * _NODES) * _WEIGHTS).sum())

    def _noise(self, noise: float | None) -> float:
        noise = self.catalog.routing.hint_noise.value if noise is None else noise
        if noise < 0:
            raise ValueError(f"noise must not be negative, got {noise}")
        return noise

    def vision_accuracy(self, model: str) -> VisionScore | None:
        """The published accuracy of a vision model, or None if the catalog has none."""
        return self.catalog.vision.get(model)


@functools.cache
def default_quality() -> QualityModel:
    """The shipped quality catalog's model with seed 0, built once per process."""
    return QualityModel(load_quality())


def quality_for(catalog: Catalog, seed: int = 0) -> QualityModel:
    """The shipped quality file over `catalog`'s models (an LLM of a user's catalog file gets
    the fallback ability of the module docstring), drawing with `seed`; fitted once per set of
    models. Abilities of the shipped models do not depend on which others are listed."""
    models = catalog.models_by_id
    llms = tuple(k for k, m in models.items() if isinstance(m, LLM))
    vision = tuple(k for k, m in models.items() if not isinstance(m, LLM))
    return _quality_over(llms, vision).with_seed(seed)


@functools.cache
def _quality_over(llm_ids: tuple[str, ...], vision_ids: tuple[str, ...]) -> QualityModel:
    if llm_ids == default_quality().catalog.llm_ids:
        return default_quality()
    return QualityModel(load_quality(llm_ids=llm_ids, vision_ids=vision_ids))
