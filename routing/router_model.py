"""The learned router's model: per answering model, a logistic regression of whether its answer
is right on what is visible when a request arrives; fitted offline, kept as a small JSON file.

Features (`FEATURES`): the request's task family (one-hot), its difficulty hint times that
one-hot (a hint is in logits of that task's difficulty, whose spread differs per task), and the
log of its prompt length. In npu_sim.quality's correctness model a right answer depends on the
task and the latent difficulty alone, so the posterior P(correct | hint) is close to a logistic
in the hint per task, and the prompt length should earn a weight near zero: it is there because
real routers see it, and the fit says how little it tells here.

Fitting (`fit_logistic`) is Newton's method on the log-likelihood with a small ridge penalty
(iteratively reweighted least squares, numpy only): nine weights per model and tens of
thousands of examples need nothing more, and the result is exactly reproducible.

The file (`save`, `load`) is JSON, versioned:

    {"format": "edgetier-learned-router", "version": 1, "features": [...],
     "target_quality": 0.95, "optimism": 0.006, "joules_per_correct_answer": 1234.5,
     "substitution_rate": 0.6, "hint_noise": 1.27, "trained_on": {...},
     "weights": {"qwen2.5-0.5b": [9 numbers], ...}}

`target_quality` is the policy's default target (the trainer's `--target-quality`);
`optimism` how much higher the quality it predicts for the answers it chose was than their
true quality in the trainer's run (it chooses on its predictions, so their errors are not
neutral), which the policy adds to its target; `joules_per_correct_answer` the price of
quality it starts from and `substitution_rate` the share of requests it answered with another
model, both where the trainer's run left them (random-substitution's default rate);
`hint_noise` the noise of the hints it was trained on, which the policy draws hints with.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npu_sim.quality import TASKS

FORMAT = "edgetier-learned-router"
VERSION = 1
FEATURES: tuple[str, ...] = (
    *(f"task={task}" for task in TASKS),
    *(f"hint*task={task}" for task in TASKS),
    "log_prompt_tokens",
)
_TASK_INDEX = {task: i for i, task in enumerate(TASKS)}


class RouterFileError(ValueError):
    """A router file that cannot be read; the message names the file and what is wrong."""


def features(task: str, hint: float, prompt_tokens: int) -> list[float]:
    """The feature vector of one request, in the order of FEATURES."""
    x = [0.0] * len(FEATURES)
    i = _TASK_INDEX[task]
    x[i] = 1.0
    x[len(TASKS) + i] = hint
    x[-1] = math.log(prompt_tokens)
    return x


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Weights w maximising sum log P(y | sigmoid(x w)) - ridge / 2 * n * |w|^2, by Newton's
    method from zero: 50 steps reach float precision on any problem of this size (the ridge
    keeps the Hessian positive definite, so each step is well defined)."""
    n, k = x.shape
    w = np.zeros(k)
    penalty = ridge * n * np.eye(k)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (y - p) - penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w = w + step
        if float(np.abs(step).max()) < 1e-12:
            break
    return w


@dataclass(frozen=True)
class RouterModel:
    """Fitted weights per answering model, and the defaults the policy takes from them."""

    weights: Mapping[str, tuple[float, ...]]
    target_quality: float
    joules_per_correct_answer: float
    hint_noise: float
    optimism: float = 0.0
    substitution_rate: float = 0.0
    trained_on: Mapping[str, Any] = field(default_factory=dict)
    #: The models it has weights for, in the order of `predict`'s results.
    models: tuple[str, ...] = field(init=False)
    _matrix: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        models = tuple(sorted(self.weights))
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "_matrix", np.array([self.weights[m] for m in models]))

    def predict(self, x: np.ndarray | list[float]) -> np.ndarray:
        """The predicted chance that each model (`models` order) answers right: for one feature
        vector, a vector; for a matrix of one row per request, one row per request."""
        z = np.clip(np.asarray(x, dtype=float) @ self._matrix.T, -500.0, 500.0)
        return 1.0 / (1.0 + np.exp(-z))

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "features": list(FEATURES),
            "target_quality": self.target_quality,
            "optimism": self.optimism,
            "joules_per_correct_answer": self.joules_per_correct_answer,
            "substitution_rate": self.substitution_rate,
            "hint_noise": self.hint_noise,
            "trained_on": dict(self.trained_on),
            "weights": {model: list(w) for model, w in sorted(self.weights.items())},
        }

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=1) + "\n", encoding="utf-8")
        return path


def load(path: Path) -> RouterModel:
    """Read a router file written by `save`; RouterFileError names the file and the problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RouterFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RouterFileError(f"{path}: not a JSON router file ({exc})") from None
    return from_json(data, str(path))


def from_json(data: Any, where: str) -> RouterModel:
    """The model a router file's JSON holds (`where` names it in errors)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RouterFileError(f"{where}: not a learned-router file (format {FORMAT!r} expected)")
    if data.get("version") != VERSION:
        raise RouterFileError(
            f"{where}: version {data.get('version')!r}; this EdgeTier reads version {VERSION} "
            "(train it again with `edgetier router train`)"
        )
    if data.get("features") != list(FEATURES):
        raise RouterFileError(f"{where}: features: expected {list(FEATURES)}")
    weights = data.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise RouterFileError(f"{where}: weights: a mapping of model ids to weights expected")
    checked: dict[str, tuple[float, ...]] = {}
    for model, values in weights.items():
        if not (
            isinstance(values, list)
            and len(values) == len(FEATURES)
            and all(isinstance(v, int | float) and math.isfinite(v) for v in values)
        ):
            raise RouterFileError(
                f"{where}: weights.{model}: expected {len(FEATURES)} finite numbers"
            )
        checked[model] = tuple(float(v) for v in values)
    target = data.get("target_quality")
    if not isinstance(target, int | float) or not 0 < target <= 1:
        raise RouterFileError(f"{where}: target_quality: above 0 and at most 1 expected")
    optimism, rate = data.get("optimism"), data.get("substitution_rate")
    if not isinstance(optimism, int | float) or not -1 < optimism < 1:
        raise RouterFileError(f"{where}: optimism: a number between -1 and 1 expected")
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise RouterFileError(f"{where}: substitution_rate: a share between 0 and 1 expected")
    price, noise = data.get("joules_per_correct_answer"), data.get("hint_noise")
    if not isinstance(price, int | float) or not 0 <= price < math.inf:
        raise RouterFileError(f"{where}: joules_per_correct_answer: a finite number >= 0 expected")
    if not isinstance(noise, int | float) or noise < 0:
        raise RouterFileError(f"{where}: hint_noise: a non-negative number expected")
    trained_on = data.get("trained_on", {})
    return RouterModel(
        checked,
        float(target),
        float(price),
        float(noise),
        float(optimism),
        float(rate),
        trained_on if isinstance(trained_on, dict) else {},
    )
