"""smallest-model: every LLM request answered by the smallest LLM the cluster serves.

The other end of the energy-quality trade (what a fleet spends, and how often it is right,
when every question goes to its smallest model), placed like energy-marginal: among the tiers
serving that model, those predicted to meet the SLO, fewest added joules first, then the
others, fastest first. The requested model's own placement follows, so a request the small
model's nodes refuse is still answered. Vision requests get the requested model's placement.
"""

from __future__ import annotations

import random

from npu_sim.catalog import Catalog
from npu_sim.hardware import TIERS
from npu_sim.models import LLM
from npu_sim.quality import default_quality
from routing.cluster import ClusterView
from routing.energy_placement import place
from routing.policy import Plan, Policy, Substitute
from routing.request import Request


class SmallestModel(Policy):
    name = "smallest-model"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        catalog = default_quality().catalog
        self._smallest_first: tuple[str, ...] | None = None
        self._llm_ids = catalog.llm_ids

    def _by_size(self, view: ClusterView) -> tuple[str, ...]:
        """LLMs of the quality catalog, fewest parameters first (computed once)."""
        if self._smallest_first is None:
            self._smallest_first = tuple(sorted(self._llm_ids, key=lambda m: view.model(m).params))
        return self._smallest_first

    def decide(self, request: Request, view: ClusterView) -> Plan:
        requested = place(view, request, self.rng)
        if not isinstance(view.model(request.model), LLM):
            return requested.plan
        for model in self._by_size(view):
            if model == request.model:
                break
            spec = view.model(model)
            assert isinstance(spec, LLM)
            if spec.context_overflow(request.prompt_tokens, request.output_tokens):
                continue
            if any(view.serving(tier, model) for tier in TIERS):
                steps = [s for s in place(view, request, self.rng, model).plan if s.skip is None]
                if steps:
                    return (*steps, *requested.plan)
        return requested.plan

    def substitutes(self, request: Request, catalog: Catalog) -> tuple[Substitute, ...]:
        if not isinstance(catalog.model(request.model), LLM):
            return ()
        smaller = [
            m
            for m in self._llm_ids
            if catalog.model(m).params < catalog.model(request.model).params
        ]
        return tuple(Substitute(m, tier, final=True) for m in smaller for tier in TIERS)
