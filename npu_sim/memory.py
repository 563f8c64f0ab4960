"""Memory fit: weights + KV cache for the context + activations must fit the chip's memory.

A model that does not fit is reported with the numbers, never silently run: the node engine
refuses it and the CLI prints `fits: false` with the bytes needed and available.
"""

from __future__ import annotations

from dataclasses import dataclass

from npu_sim.hardware import Hardware, Precision
from npu_sim.models import LLM, Model


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a model needs resident on a chip for a given batch and context."""

    weights: float
    kv_cache: float
    activations: float
    available: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations

    @property
    def fits(self) -> bool:
        return self.total <= self.available

    def explain(self) -> str:
        gib = 2**30
        verdict = "fits" if self.fits else "does not fit"
        return (
            f"{verdict}: needs {self.total / gib:.2f} GiB (weights {self.weights / gib:.2f}, "
            f"KV cache {self.kv_cache / gib:.2f}, activations {self.activations / gib:.2f}) "
            f"of {self.available / gib:.2f} GiB"
        )


def memory_need(
    hardware: Hardware, model: Model, precision: Precision, context_tokens: int, batch: int = 1
) -> MemoryNeed:
    """Memory for `batch` concurrent requests of `context_tokens` tokens each (prompt + output).

    For a vision model `batch` is the number of images in flight and the context is unused.
    """
    if isinstance(model, LLM):
        kv = model.kv_bytes_per_token(precision) * context_tokens * batch
        # Prefill processes a whole prompt at once: the activation peak of the longest one.
        activations = model.activation_bytes(context_tokens, precision) * batch
    else:
        kv = 0.0
        activations = model.activation_bytes(batch, precision)
    return MemoryNeed(model.weight_bytes(precision), kv, activations, hardware.memory_bytes)
