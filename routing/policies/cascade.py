"""cascade: answer with a small model on the device; escalate when it is not confident.

The first step runs `small_model` (default qwen2.5-0.5b) on the device with a minimum
confidence (`threshold`); below it, the router escalates to the requested model, device-first.
Like Sedna's hard-example mining, the device's answer is kept when it is good enough and
escalation is an improvement, never a dependency.

The confidence is the small model's own, as npu_sim.quality models it: a noisy observation of
whether its answer to this request is right, which tells right answers from wrong ones with
AUROC `auroc` (default 0.7461: the untuned selective-prediction baseline of Chen et al. 2023 on
CoQA; their tuned method reaches 0.8025). It is drawn from the seed and the request id, so a
live run and a simulation of one request agree. A higher threshold keeps fewer small answers:
more joules, more of the requested model's quality; sweeping it
(`edgetier sim sweep --param policy.threshold=0.2,0.4,...`) traces the energy-quality curve.
"""

from __future__ import annotations

import random

from npu_sim.catalog import Catalog, UnknownNameError, default_catalog
from npu_sim.models import LLM
from npu_sim.quality import DEFAULT_TASK, default_quality
from routing.cluster import ClusterView
from routing.placement import escalating, tier_step
from routing.policy import Plan, Policy, Step, Substitute
from routing.request import Request

DEFAULT_SMALL_MODEL = "qwen2.5-0.5b"
DEFAULT_THRESHOLD = 0.5


class Cascade(Policy):
    name = "cascade"

    def __init__(
        self,
        seed: int = 0,
        small_model: str = DEFAULT_SMALL_MODEL,
        threshold: float = DEFAULT_THRESHOLD,
        auroc: float | None = None,
    ) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold: a confidence between 0 and 1, got {threshold}")
        if auroc is not None and not 0.5 <= auroc < 1:
            raise ValueError(f"auroc: between 0.5 (a coin) and 1 (excluded), got {auroc}")
        try:
            default_catalog().model(small_model)
        except UnknownNameError as exc:
            raise ValueError(f"small_model: {exc}") from None
        self.quality = default_quality().with_seed(seed)
        if not self.quality.answers_for(small_model):
            raise ValueError(f"small_model: {small_model} is not an LLM")
        self.seed = seed
        self.rng = random.Random(seed)
        self.small_model = small_model
        self.threshold = threshold
        self.auroc = auroc

    def decide(self, request: Request, view: ClusterView) -> Plan:
        full = escalating(view, request, self.rng)
        if request.model == self.small_model or not isinstance(view.model(request.model), LLM):
            return full
        small = tier_step(view, request, "device", self.small_model, self.rng)
        if small.skip is not None:
            return full
        first = Step("device", self.small_model, node=small.node, min_confidence=self.threshold)
        return (first, *full)

    def substitutes(self, request: Request, catalog: Catalog) -> tuple[Substitute, ...]:
        if request.model == self.small_model or not isinstance(catalog.model(request.model), LLM):
            return ()
        confident = self.confidence(request, self.small_model) >= self.threshold
        return (Substitute(self.small_model, "device", final=confident),)

    def confidence(self, request: Request, model: str) -> float:
        if model == request.model:
            return 1.0
        task = request.task or DEFAULT_TASK
        return self.quality.confidence(model, task, request.id, self.auroc)
