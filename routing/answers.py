"""The quality of the answer a request got, the one rule records, replies and metrics share.

A served LLM request's answer is judged by npu_sim.quality's correctness model: the answering
model's P(correct) for this request (its task, its latent difficulty drawn from the run's seed
and the request id), the sampled outcome, and the P(correct) the requested model would have
had on the same request. Vision answers and unserved requests have no such figure (a detector's
mAP is not a probability that one image is answered right).
"""

from __future__ import annotations

from npu_sim.quality import Answer, QualityModel
from routing.escalation import Outcome
from routing.request import Request


def answer_quality(quality: QualityModel, request: Request, outcome: Outcome) -> Answer | None:
    """The answer's quality, or None (not served, or not an LLM answer)."""
    if not outcome.served:
        return None
    known = quality.answers_for
    if not (known(outcome.model) and known(request.model)):
        return None
    return quality.answer(outcome.model, request.model, request.task, request.id)
