"""learned-router: per request, the answering model a trained router picks, placed where it adds
the fewest joules.

What it sees when a request arrives, and nothing else: the task family, the prompt length, a
noisy hint of the request's difficulty, the deadline and the live load. The hint stands for
what a router of the field (RouteLLM's, say) reads off the prompt; npu_sim.quality draws it from
the request's latent difficulty with a noise calibrated so that routing on it recovers what
RouteLLM's default router recovers on GSM8K, not more (quality.yaml, `hint_noise`).

From these, a model trained offline (`edgetier router train SCENARIO --out FILE`;
routing.router_model) predicts each model's chance of answering right. Every model is placed
by routing.energy_placement (energy-marginal underneath: the joules it adds where it would run
now, the SLO checked against queue-aware estimates), and the request is answered by the model
predicted to meet the SLO with the least

    typical joules + price x (P(requested model right) - P(this model right)),

a price on each expected right answer given up (a model predicted to do better earns it back).
This is the Lagrangian of "fewest joules at a given quality": one price trades joules for
quality across all requests, so a long answer (many joules) is handed to a smaller model at a
smaller predicted loss than a short one. The typical joules are the answer's stand-alone joules
on its placement times the share of them this model's answers have recently added there, not
what it adds at this instant: on a GPU that swings between nearly nothing (a running batch) and
whole decode steps (an idle one), several times the spread of the quality term, so choosing the
model on it sent answers wherever a batch happened to run and the hint decided almost nothing
(on mixed-tasks the chat questions it handed to the 7B were as hard as those it kept). The
chosen model's placement is still the one that adds fewest joules now, and the requested
model's follows it, so a substitute that is refused escalates to the model that was asked for.
Vision requests, and models the file has no weights for, get the requested model's placement
alone.

The price is steered, not fixed: after every judged request it moves so that the predicted
quality kept over about the last WINDOW requests (the chosen answers' predicted P(correct) over
the requested models') stays at `target_quality`, plus the optimism the trainer measured. A
fixed price would not hold a quality: what an answer adds to a GPU swings between nearly nothing
(a running batch) and whole decode steps (an idle one), so traffic herds onto whichever model's
GPUs are busy and the quality kept at one price differs from run to run. Steering is state the
policy keeps: the same requests in the same order get the same answers, live or simulated.

Options: `model_file` (a router file; default: the one shipped, trained on
scenarios/mixed-tasks.yaml) and `target_quality` (default: the file's, 0.95 in the shipped
one). The policy reads the file once, when built; it starts from the file's price.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from npu_sim.catalog import Catalog
from npu_sim.hardware import TIERS
from npu_sim.models import LLM
from npu_sim.quality import DEFAULT_TASK, default_quality
from routing import router_model
from routing.cluster import ClusterView
from routing.energy_placement import place
from routing.policy import Plan, Policy, Step, Substitute
from routing.request import Request

#: The router file used without a `model_file` option (`edgetier router train` rewrites it).
DEFAULT_MODEL_FILE = Path(__file__).resolve().parent.parent / "data" / "learned-router.json"
#: The price follows the predicted quality kept over about this many judged requests ...
WINDOW = 1000
#: ... rising by e^(GAIN x shortfall) per request (0.1% a request for a shortfall of 1 point)
GAIN = 0.1
#: ... and stays within these bounds (joules per right answer).
MIN_PRICE, MAX_PRICE = 1.0, 1e6
#: A model is chosen on the share of their stand-alone joules its answers added over about this
#: many pricings (`_typical_joules`).
SHARE_WINDOW = 200


class LearnedRouter(Policy):
    name = "learned-router"

    def __init__(
        self,
        seed: int = 0,
        model_file: str | None = None,
        target_quality: float | None = None,
    ) -> None:
        path = Path(model_file) if model_file is not None else DEFAULT_MODEL_FILE
        try:
            self.model = router_model.load(path)
        except router_model.RouterFileError as exc:
            raise ValueError(f"model_file: {exc}") from None
        if target_quality is not None and not 0 < target_quality <= 1:
            raise ValueError(f"target_quality: above 0 and at most 1, got {target_quality}")
        self.target = self.model.target_quality if target_quality is None else target_quality
        self.quality = default_quality().with_seed(seed)
        unknown = sorted(m for m in self.model.models if not self.quality.answers_for(m))
        if unknown:
            raise ValueError(f"model_file: {path}: weights for unknown LLMs {', '.join(unknown)}")
        self.rng = random.Random(seed)
        #: The price of a right answer (joules), adjusted after every decision (`steer`).
        self.price = self.model.joules_per_correct_answer
        self._kept = self._wanted = 0.0  # recent predicted P(correct): of answers, of requested
        self._share: dict[str, float] = {}  # model -> recent added over stand-alone joules

    def hint(self, request: Request, task: str) -> float:
        """The difficulty hint this router sees for `request` (the same in live and simulated
        runs: drawn from the seed and the request id)."""
        return self.quality.hint(task, request.id, self.model.hint_noise)

    def predicted(self, request: Request) -> dict[str, float]:
        """Each model's predicted chance of answering `request` right (empty if the file has
        no weights for the requested model)."""
        if request.model not in self.model.weights:
            return {}
        task = request.task or DEFAULT_TASK
        x = router_model.features(task, self.hint(request, task), request.prompt_tokens)
        return dict(zip(self.model.models, self.model.predict(x).tolist(), strict=True))

    def decide(self, request: Request, view: ClusterView) -> Plan:
        requested = place(view, request, self.rng)
        if not isinstance(view.model(request.model), LLM):
            return requested.plan
        predicted = self.predicted(request)
        if not predicted:
            return requested.plan
        wanted = predicted[request.model]
        best: tuple[float, Step] | None = None
        if requested.meeting:
            added, step = requested.meeting[0]
            best = (self._typical_joules(view, request, request.model, added, step), step)
        for model, p in predicted.items():
            penalty = self.price * (wanted - p)
            if model == request.model or (best is not None and penalty >= best[0]):
                continue  # the requested model, or dearer than the best even at zero joules
            if not self._can_answer(view, request, model):
                continue
            meeting = place(view, request, self.rng, model).meeting
            if meeting:
                cost = self._typical_joules(view, request, model, *meeting[0]) + penalty
                if best is None or cost < best[0]:
                    best = (cost, meeting[0][1])
        chosen = request.model if best is None else best[1].model
        self.steer(wanted, predicted[chosen], chosen != request.model)
        if chosen == request.model:
            return requested.plan
        assert best is not None
        return (best[1], *requested.plan)

    def _typical_joules(
        self, view: ClusterView, request: Request, model: str, added: float, step: Step
    ) -> float:
        """What an answer by `model` adds, at the load its answers have recently met: its
        stand-alone joules on the step's node times the share of them that answers by this
        model have added where they would run (exponentially weighted over about SHARE_WINDOW
        pricings; exactly 1 on a chip that does not batch). `added`, what it adds now, swings
        with the moment's batches; choosing the model on it herds answers onto whichever
        model's GPU is busy, whatever the request, while the placement underneath still
        joins the batch running now."""
        node = view.node(step.node) if step.node is not None else None
        alone = view.estimate(node, request, model).energy_j if node is not None else 0.0
        if alone <= 0:
            return added
        share = self._share.get(model)
        share = added / alone if share is None else share + (added / alone - share) / SHARE_WINDOW
        self._share[model] = share
        return share * alone

    def steer(self, wanted: float, kept: float, substituted: bool) -> None:
        """After each judged request, move the price towards the target: the predicted
        quality kept over about the last WINDOW of them (exponentially weighted) below
        `target_quality` plus the file's `optimism` raises the price by e^(GAIN x shortfall);
        above it, lowers it."""
        self._kept += (kept - self._kept) / WINDOW
        self._wanted += (wanted - self._wanted) / WINDOW
        aim = min(1.0, self.target + self.model.optimism)
        self._move_price(aim - self._kept / self._wanted)

    def _move_price(self, shortfall: float) -> None:
        self.price = min(MAX_PRICE, max(MIN_PRICE, self.price * math.exp(GAIN * shortfall)))

    @staticmethod
    def _can_answer(view: ClusterView, request: Request, model: str) -> bool:
        """The model is an LLM that some tier serves and that holds the request's context."""
        spec = view.model(model)
        if not isinstance(spec, LLM):
            return False
        if spec.context_overflow(request.prompt_tokens, request.output_tokens) is not None:
            return False
        return any(view.serving(tier, model) for tier in TIERS)

    def substitutes(self, request: Request, catalog: Catalog) -> tuple[Substitute, ...]:
        """Any model the file knows may answer (which one depends on the load and the price
        when it comes)."""
        if not isinstance(catalog.model(request.model), LLM) or not self.predicted(request):
            return ()
        return tuple(
            Substitute(model, tier, final=True)
            for model in self.model.models
            if model != request.model
            for tier in TIERS
        )
