"""random-substitution: learned-router's substitutions, at the same rate, blind to which
requests are hard.

The baseline every router of the field is measured against (RouteLLM's random router): as many
answers by other models, on requests chosen without knowing which are hard. It is learned-router
with two changes. The difficulty hint it decides on is that of another, unrelated request (drawn
from the same seed under another id): its hints have the router's distribution, so it picks the
same kinds of substitutes, task by task, but they say nothing about the request at hand. And
instead of a quality target (which predictions that know nothing of the request cannot steer
by), it steers its price so that the share of requests it answers with another model tracks
`rate` (default: the share learned-router substituted in its trainer's run; `edgetier bench
quality` sets it to the router's share in the same run). Whatever quality learned-router keeps
beyond this one is what its hint is worth.
"""

from __future__ import annotations

from routing.policies.learned_router import WINDOW, LearnedRouter
from routing.request import Request


class RandomSubstitution(LearnedRouter):
    name = "random-substitution"

    def __init__(
        self, seed: int = 0, model_file: str | None = None, rate: float | None = None
    ) -> None:
        super().__init__(seed, model_file)
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError(f"rate: a share between 0 and 1, got {rate}")
        self.rate = self.model.substitution_rate if rate is None else rate
        self._substituted = self.rate  # recent share answered by another model

    def hint(self, request: Request, task: str) -> float:
        return self.quality.hint(task, f"{request.id}\x1funrelated", self.model.hint_noise)

    def steer(self, wanted: float, kept: float, substituted: bool) -> None:
        """Substituting less often than `rate` lowers the price of quality, more often raises
        it."""
        self._substituted += (substituted - self._substituted) / WINDOW
        self._move_price(self._substituted - self.rate)
