"""cascade: answer with a small model on the device; escalate when its confidence is low.

The first step runs `small_model` (default qwen2.5-0.5b) on the device with a minimum
confidence; below it, the router escalates to the requested model, device-first. Like Sedna's
hard-example mining, the device's answer is kept when it is good enough and escalation is an
improvement, never a dependency.

Simulated confidence (seeded, reproducible, the same in live and simulated runs):

    confidence = min(1, q * (0.5 + u)),   q = (params_small / params_requested) ** 0.25

where u in [0, 1) is a hash of (seed, request id). Quality grows as a small power of model size
(the scaling laws of Kaplan et al. 2020), so the further the small model is from the requested
one, the more often the cascade escalates: for qwen2.5-0.5b standing in for qwen2.5-7b,
q = 0.52 and about 40% of requests reach the default threshold of 0.5.
"""

from __future__ import annotations

import hashlib
import random

from npu_sim.catalog import Catalog, UnknownNameError, default_catalog
from npu_sim.models import LLM
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
    ) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold: a confidence between 0 and 1, got {threshold}")
        try:
            default_catalog().model(small_model)
        except UnknownNameError as exc:
            raise ValueError(f"small_model: {exc}") from None
        self.seed = seed
        self.rng = random.Random(seed)
        self.small_model = small_model
        self.threshold = threshold
        self._quality: dict[tuple[str, str], float] = {}

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
        digest = hashlib.blake2b(f"{self.seed}:{request.id}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        return min(1.0, self.quality(model, request.model) * (0.5 + u))

    def quality(self, small: str, large: str) -> float:
        """q = (params_small / params_large) ** 0.25, memoised per pair."""
        key = (small, large)
        if key not in self._quality:
            catalog = default_catalog()
            ratio = catalog.model(small).params / catalog.model(large).params
            self._quality[key] = min(1.0, ratio) ** 0.25
        return self._quality[key]
