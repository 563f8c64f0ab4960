"""The performance model: how long each phase of a request takes on a chip, and at what power.

Roofline with calibrated efficiencies. Each phase time is a sum of terms, each a fitted
coefficient times a feature computed here (`PHASE_TERMS`); fit and prediction share them.
- prefill: prompt FLOPs at the prefill rate / efficiency, plus an overhead in seconds. On a GPU
  the prefill rate is the tensor rate of the precision (w8a8 on INT8 tensor cores, wNa16 and
  Q4_K_M dequantised to FP16). On an NPU it is the chip's 16-bit rate whatever the weights: NPU
  LLM runtimes keep activations in 16 bits (rknn-llm's w8a8 and w4a16 TTFTs are equal on RK3576
  for every model it lists, though INT8 is four times the 16-bit rate). Some runtimes prefill in
  a fixed window (ax-llm and Qualcomm's Genie: 128 tokens), so a short prompt costs a whole
  window and a long one several passes. Then, per kind (see `Costs.prefill_features`): on an
  NPU a cost per layer pass that is DRAM traffic, so it scales with the model's depth and the
  chip's bandwidth rather than its FLOPs (the RK3562, with 1/6 of the RK3588's TOPS and 1/2.7
  of its bandwidth, prefills 4.4x slower); on a GPU the dequantisation traffic of weight-only
  quantised weights (llama-bench: Q4_K_M prefill 10-30% slower than F16 on every GPU) and the
  board's power cap (the 300 W RTX 6000 Ada reaches 26% of its datasheet FP16 peak, a 3090 44%);
- a decode step is memory-bound until the batch makes it compute-bound: max(bytes of weights and
  KV cache read / bandwidth / efficiency, batch FLOPs / the prefill rate), plus a cost per token
  and per layer (kernel launches, synchronisation): small models do not saturate the bandwidth;
- a vision inference: image FLOPs / peak / efficiency; the activation traffic of the image over
  bandwidth (feature maps scale with pixels, not with a model's width: YOLOv5n has 27% of
  YOLOv5s's FLOPs but takes 59% of its time on an RK3588 core); weight streaming (an edge NPU's
  SRAM holds a small CNN's weights, not a ViT's); a fixed cost per invocation (runtime, I/O:
  MobileNetV2 takes 0.58 ms on the Snapdragon X Elite's 45 TOPS); and FLOPs at the 16-bit rate
  for the work (activations, softmax, normalisation) that does not run at INT8 (TensorRT's INT8
  YOLO11 is only 1.3-1.6x faster than FP16 on a Jetson, not 2x).
The factors are fitted per hardware family (npu_sim/calibration.py); power follows the family's
fitted `PowerLaw` (npu_sim/power.py).

`Costs` binds one (hardware, model, precision) and precomputes what a node engine asks for on
every event, so the simulator pays a few multiplications per decision, not a catalog walk.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Annotated

import pydantic
from pydantic import NonNegativeFloat

from npu_sim.datafile import STRICT
from npu_sim.hardware import Hardware, Kind, Precision
from npu_sim.memory import MemoryNeed, memory_need
from npu_sim.models import LLM, Model, VisionModel
from npu_sim.power import PowerLaw

#: What an NPU's LLM prefill multiplies in: 16-bit activations, on its INT16 or FP16 path.
SIXTEEN_BIT = Precision(2.0, 2.0, 2, ("int16", "fp16"), "16-bit")


@STRICT
@dataclass(frozen=True)
class PhaseFactor:
    """t = ideal / efficiency + overhead + the phase's other terms (`PHASE_TERMS`), each a
    coefficient times a feature the same `Costs` computes for fit and prediction."""

    efficiency: Annotated[float, pydantic.Field(gt=0, le=1)]
    overhead: NonNegativeFloat = 0.0
    per_layer: NonNegativeFloat = 0.0
    dequant: NonNegativeFloat = 0.0
    joules_per_op: NonNegativeFloat = 0.0
    activations: NonNegativeFloat = 0.0
    stream: NonNegativeFloat = 0.0
    fixed: NonNegativeFloat = 0.0
    sixteen_bit: NonNegativeFloat = 0.0


#: The coefficients of each phase after 1/efficiency, in the order `Costs`'s `*_features`
#: give their features (the module docstring says what each one is and why).
PHASE_TERMS: dict[str, tuple[str, ...]] = {
    "prefill": ("overhead", "per_layer", "dequant", "joules_per_op"),
    "decode": ("overhead", "per_layer"),
    "vision": ("activations", "stream", "fixed", "sixteen_bit"),
}


@dataclass(frozen=True)
class PhaseFactors:
    """The fitted (or prior) phase factors of one hardware family, its power law, its kind
    and its runtime's prefill window (None: a prompt is prefilled whole)."""

    prefill: PhaseFactor
    decode: PhaseFactor
    vision: PhaseFactor
    power: PowerLaw
    kind: Kind
    prefill_window: int | None = None
    source: str = ""


@dataclass(frozen=True)
class Phase:
    """A phase's duration and the power drawn while it runs."""

    seconds: float
    watts: float
    compute_utilisation: float = 0.0
    memory_utilisation: float = 0.0

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

    @functools.cached_property
    def prefill_ops_per_s(self) -> float:
        """The rate LLM prefill multiplies at (see the module docstring): an NPU's 16-bit rate,
        a GPU's rate for the precision. Raises, naming the rates, if the chip lacks it."""
        if self.factors.kind == "npu":
            return self.hardware.peak_ops_per_s(SIXTEEN_BIT)
        return self.peak_ops_per_s

    def _phase(self, seconds: float, flops: float, bytes_read: float, rate: float) -> Phase:
        """A phase of `seconds` doing `flops` on units of peak `rate` and reading `bytes_read`,
        at the power its utilisations draw."""
        compute = flops / (seconds * rate)
        memory = bytes_read / (seconds * self.bandwidth)
        watts = self.factors.power.watts(self.hardware, compute, memory)
        return Phase(seconds, watts, compute, memory)

    def prefill_passes(self, prompt_tokens: int) -> tuple[int, int]:
        """(tokens the runtime computes, passes through the layers) for one prompt: a whole
        number of windows where the runtime prefills in a fixed window."""
        window = self.factors.prefill_window
        if window is None:
            return prompt_tokens, 1
        passes = math.ceil(prompt_tokens / window)
        return passes * window, passes

    @functools.cached_property
    def sixteen_bit_ops_per_s(self) -> float:
        """The chip's 16-bit rate, where the non-matrix work of a network runs whatever the
        precision of its matrix multiplies (its peak, if it publishes no 16-bit rate)."""
        if self.hardware.compute_rate(SIXTEEN_BIT) is None:
            return self.peak_ops_per_s
        return self.hardware.peak_ops_per_s(SIXTEEN_BIT)

    def prefill_features(self, prompt_tokens: int, requests: int = 1) -> tuple[float, ...]:
        """(ideal compute seconds, 1, layer passes over bandwidth, dequantisation traffic over
        bandwidth, operations over the power cap) of a prefill: the features its `PhaseFactor`
        (1/efficiency, overhead, per_layer, dequant, joules_per_op) multiplies.

        On an NPU a layer pass costs a round trip of its data through DRAM (`per_layer` in
        bytes), so a chip with half the bandwidth pays twice the time per layer. On a GPU:
        - weight-only quantised weights (wNa16, Q4_K_M) are first dequantised to 16 bits each
          pass: the stored bytes are read, two bytes per weight written and read back;
        - the tensor cores cannot hold their boost-clock peak within the board's power cap
          (`max_w`, its TDP): sustained throughput is at most max_w / joules_per_op, so the
          operations also take flops x joules_per_op / max_w (NPUs rarely publish a cap);
        - a GPU's per-layer kernel launches are part of its overhead: every GPU TTFT row is
          one model (Llama 3 8B), so a per-layer cost cannot be told from a fixed one."""
        llm = self._llm()
        tokens, passes = self.prefill_passes(prompt_tokens)
        flops = requests * llm.prefill_flops(tokens)
        if self.factors.kind == "npu":
            layer_passes = passes * llm.layers / self.bandwidth
            return flops / self.prefill_ops_per_s, 1.0, layer_passes, 0.0, 0.0
        dequant = 0.0
        if self.precision.weight_bytes < 2 and self.hardware.compute_rate(self.precision) in (
            "int16",
            "fp16",
        ):
            weights = llm.layers * llm.layer_params
            dequant = passes * weights * (self.precision.weight_bytes + 4) / self.bandwidth
        capped = flops / self.hardware.max_w
        return flops / self.prefill_ops_per_s, 1.0, 0.0, dequant, capped

    def decode_features(self, context_tokens: float) -> tuple[float, ...]:
        """(weight and KV-cache bytes over peak bandwidth, 1, layers) of a memory-bound decode
        step with `context_tokens` tokens of KV cache in the batch."""
        llm = self._llm()
        return self._decode_bytes(context_tokens) / self.bandwidth, 1.0, float(llm.layers)

    def _decode_bytes(self, context_tokens: float) -> float:
        llm = self._llm()
        return (
            llm.decode_weight_bytes(self.precision)
            + llm.kv_bytes_per_token(self.precision) * context_tokens
        )

    def vision_features(self, images: int = 1) -> tuple[float, ...]:
        """(ideal seconds at the precision's rate, activation traffic over bandwidth, weight
        streaming over bandwidth, runtime invocations, ideal seconds at the 16-bit rate) of
        `images` images: as one batch (one invocation, weights read once) on hardware that
        batches, one by one elsewhere."""
        model = self._vision()
        calls = 1 if self.hardware.batching else images
        flops = images * model.flops
        activations = model.activation_bytes(images, self.precision) / self.bandwidth
        streaming = calls * model.weight_bytes(self.precision) / self.bandwidth
        return (
            flops / self.peak_ops_per_s,
            activations,
            streaming,
            float(calls),
            flops / self.sixteen_bit_ops_per_s,
        )

    @staticmethod
    def seconds(factor: PhaseFactor, phase: str, features: tuple[float, ...]) -> float:
        """A phase time: the features weighted by the factor's coefficients."""
        coefficients = (1.0 / factor.efficiency, *(getattr(factor, t) for t in PHASE_TERMS[phase]))
        return sum(c * f for c, f in zip(coefficients, features, strict=True))

    def _llm(self) -> LLM:
        if not isinstance(self.model, LLM):
            raise TypeError(f"{self.model.id} is a vision model, not an LLM")
        return self.model

    def _vision(self) -> VisionModel:
        if not isinstance(self.model, VisionModel):
            raise TypeError(f"{self.model.id} is an LLM, not a vision model")
        return self.model

    @functools.lru_cache(maxsize=16384)  # noqa: B019 (engines ask on every request)
    def prefill(self, prompt_tokens: int, requests: int = 1) -> Phase:
        """Process `requests` prompts of `prompt_tokens` tokens together; yields their first
        tokens. Several prompts at once only on hardware that batches."""
        llm = self._llm()
        features = self.prefill_features(prompt_tokens, requests)
        seconds = self.seconds(self.factors.prefill, "prefill", features)
        flops = requests * llm.prefill_flops(self.prefill_passes(prompt_tokens)[0])
        return self._phase(seconds, flops, llm.weight_bytes(self.precision), self.prefill_ops_per_s)

    @functools.lru_cache(maxsize=65536)  # noqa: B019 (engines ask on every decode epoch)
    def decode_step(self, batch: int, context_tokens: float) -> Phase:
        """One decode step that generates a token for each of `batch` requests, which hold
        `context_tokens` tokens of KV cache between them: memory-bound until the batch makes it
        compute-bound, plus the per-token and per-layer costs."""
        llm = self._llm()
        factor = self.factors.decode
        bytes_read = self._decode_bytes(context_tokens)
        flops = batch * llm.decode_flops(context_tokens / batch)
        memory_s = bytes_read / (self.bandwidth * factor.efficiency)
        compute_s = flops / (self.prefill_ops_per_s * self.factors.prefill.efficiency)
        seconds = max(memory_s, compute_s) + factor.overhead + factor.per_layer * llm.layers
        return self._phase(seconds, flops, bytes_read, self.prefill_ops_per_s)

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
        """Run `images` images through a vision model: as one batch on hardware that batches,
        one after another elsewhere."""
        model = self._vision()
        features = self.vision_features(images)
        seconds = self.seconds(self.factors.vision, "vision", features)
        weights = features[2] * self.bandwidth
        return self._phase(seconds, images * model.flops, weights, self.peak_ops_per_s)
