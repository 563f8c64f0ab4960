"""An inference request as the routing core sees it."""

from __future__ import annotations

from dataclasses import dataclass

from npu_sim.fastinit import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Request:
    """An inference request as policies see it. `origin` is the client's device node, if known;
    `slo_s` its end-to-end latency objective, if any; `task` the task family of an LLM request
    (npu_sim.quality.TASKS: what its answer's quality is measured on). The edges that make
    requests (scenario workloads, the orchestrator's request checks) give every LLM request
    one, `npu_sim.quality.DEFAULT_TASK` when its source names none; vision requests have
    none."""

    id: str
    model: str
    prompt_tokens: int
    output_tokens: int
    slo_s: float | None = None
    origin: str | None = None
    task: str | None = None
