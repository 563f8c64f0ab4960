"""The performance model: how long each phase of a request takes on a chip, and at what power.

Roofline with calibrated efficiencies. Each phase time is  t = ideal / efficiency + overhead:
- prefill is compute-bound: ideal = prompt FLOPs / peak operations at the precision;
- a decode step is memory-bound until the batch makes it compute-bound: ideal = max(bytes of
  weights and KV cache read / peak bandwidth, batch FLOPs / peak operations);
- a vision inference is compute-bound: ideal = image FLOPs / peak; its overhead is counted in
  operations, so it scales with the accelerator (pre/post-processing runs there too).
The (efficiency, overhead) pairs are fitted per hardware family (npu_sim/calibration.py).

`Costs` binds one (hardware, model, precision) and precomputes what a node engine asks for on
every event, so the simulator pays a few multiplications per decision, not a catalog walk.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import pydantic
from pydantic import NonNegativeFloat

from npu_sim.hardware import Hardware, Precision
from npu_sim.memory import MemoryNeed, memory_need
from npu_sim.models import LLM, Model, VisionModel
from npu_sim.power import power_w


@dataclass(frozen=True)
class PhaseFactor:
    """t = ideal / efficiency + overhead, for one phase on one hardware family."""

    efficiency: Annotated[float, pydantic.Field(gt=0, le=1)]
    overhead: NonNegativeFloat = 0.0


@dataclass(frozen=True)
class PhaseFactors:
    """The fitted (or prior) phase factors of one hardware family."""

    prefill: PhaseFactor
    decode: PhaseFactor
    vision: PhaseFactor
    source: str = ""


@dataclass(frozen=True)
class Phase:
    """A phase's duration and the power drawn while it runs."""

    seconds: float
    watts: float

    @property
    def joules(self) -> float:
        return self.seconds * self.watts


@dataclass(frozen=True, slots=True)
class Service:
    """One request (or a batch of identical ones) alone on a chip: when its first token comes,
    when it ends, what it costs, and the decode step time (0 for vision)."""

    ttft_s: float
    latency_s: float
    energy_j: float
    step_s: float


@dataclass(frozen=True, eq=False)
class Costs:
    """Phase times and powers of one model at one precision on one chip."""

    hardware: Hardware
    model: Model
    precision: Precision
    factors: PhaseFactors

    def __post_init__(self) -> None:
        # Fails early, naming the missing compute rate, if the chip cannot run the precision.
        _ = self.peak_ops_per_s

    @functools.cached_property
    def peak_ops_per_s(self) -> float:
        return self.hardware.peak_ops_per_s(self.precision)

    @functools.cached_property
    def bandwidth(self) -> float:
        return self.hardware.bandwidth_bytes_per_s

    @functools.lru_cache(maxsize=16384)  # noqa: B019 (engines check every request)
    def memory(self, context_tokens: int) -> MemoryNeed:
        """Memory one request of `context_tokens` tokens (prompt + output) needs here."""
        return memory_need(self.hardware, self.model, self.precision, context_tokens)

    @functools.lru_cache(maxsize=16384)  # noqa: B019 (engines check every request)
    def fits(self, context_tokens: int) -> bool:
        """Whether one request of `context_tokens` tokens fits in memory here."""
        return self.memory(context_tokens).fits

    def _power(self, seconds: float, flops: float, bytes_read: float) -> float:
        return power_w(
            self.hardware,
            flops / (seconds * self.peak_ops_per_s),
            bytes_read / (seconds * self.bandwidth),
        )

    def _llm(self) -> LLM:
        if not isinstance(self.model, LLM):
            raise TypeError(f"{self.model.id} is a vision model, not an LLM")
        return self.model

    @functools.lru_cache(maxsize=16384)  # noqa: B019 (engines ask on every request)
    def prefill(self, prompt_tokens: int, requests: int = 1) -> Phase:
        """Process `requests` prompts of `prompt_tokens` tokens together; yields their first
        tokens. Several prompts at once only on hardware that batches."""
        llm = self._llm()
        flops = requests * llm.prefill_flops(prompt_tokens)
        factor = self.factors.prefill
        seconds = flops / (self.peak_ops_per_s * factor.efficiency) + factor.overhead
        return Phase(seconds, self._power(seconds, flops, llm.weight_bytes(self.precision)))

    @functools.lru_cache(maxsize=65536)  # noqa: B019 (engines ask on every decode epoch)
    def decode_step(self, batch: int, context_tokens: float) -> Phase:
        """One decode step that generates a token for each of `batch` requests, which hold
        `context_tokens` tokens of KV cache between them."""
        llm = self._llm()
        bytes_read = (
            llm.decode_weight_bytes(self.precision)
            + llm.kv_bytes_per_token(self.precision) * context_tokens
        )
        flops = batch * llm.decode_flops(context_tokens / batch)
        memory_s = bytes_read / (self.bandwidth * self.factors.decode.efficiency)
        compute_s = flops / (self.peak_ops_per_s * self.factors.prefill.efficiency)
        seconds = max(memory_s, compute_s) + self.factors.decode.overhead
        return Phase(seconds, self._power(seconds, flops, bytes_read))

    @functools.lru_cache(maxsize=1 << 16)  # noqa: B019 (Costs live as long as their Predictor)
    def serve(self, prompt_tokens: int, output_tokens: int, batch: int = 1) -> Service:
        """`batch` identical requests served together from an idle chip: prefill, then
        output_tokens - 1 decode steps (prefill yields the first token), each step taken at
        the mid-generation context (exact while decoding is memory-bound). The same
        approximation as the node engine's decode epochs, so the two agree."""
        if isinstance(self.model, VisionModel):
            phase = self.vision(batch)
            return Service(phase.seconds, phase.seconds, phase.joules, 0.0)
        prefill = self.prefill(prompt_tokens, batch)
        steps = output_tokens - 1
        step = self.decode_step(batch, batch * (prompt_tokens + output_tokens / 2))
        return Service(
            prefill.seconds,
            prefill.seconds + steps * step.seconds,
            prefill.joules + steps * step.joules,
            step.seconds,
        )

    @functools.lru_cache(maxsize=256)  # noqa: B019 (engines ask on every image)
    def vision(self, images: int = 1) -> Phase:
        """Run `images` images through a vision model: as one batch (one overhead) on hardware
        that batches, one after another elsewhere."""
        if not isinstance(self.model, VisionModel):
            raise TypeError(f"{self.model.id} is an LLM, not a vision model")
        factor = self.factors.vision
        overheads = 1 if self.hardware.batching else images
        work = images * self.model.flops / factor.efficiency + overheads * factor.overhead
        seconds = work / self.peak_ops_per_s
        flops = images * self.model.flops
        weights = images * self.model.weight_bytes(self.precision)
        return Phase(seconds, self._power(seconds, flops, weights))
