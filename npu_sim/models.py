"""Models as architectures: what a request costs in FLOPs, bytes of weights and bytes of KV cache.

An LLM is described by its config (layers, hidden size, heads, ...); every cost the performance
model needs is derived here from that description, so a new model is one catalog entry and its
numbers can be checked against the paper. A vision model is described per image (FLOPs and
parameters at its native resolution), as its authors publish it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from pydantic import PositiveFloat, PositiveInt

from npu_sim.datafile import STRICT, SetByLoader
from npu_sim.hardware import Precision

VisionTask = Literal["detection", "classification", "embedding"]


@dataclass(frozen=True)
class ContextOverflow:
    """A request too long for a model: the field at fault and a message with the numbers."""

    field: Literal["prompt_tokens", "output_tokens"]
    message: str


@STRICT
@dataclass(frozen=True)
class LLM:
    """A decoder-only transformer with gated MLP, RMSNorm and grouped-query attention."""

    layers: PositiveInt
    hidden: PositiveInt
    heads: PositiveInt
    kv_heads: PositiveInt
    intermediate: PositiveInt
    vocab: PositiveInt
    tied_embeddings: bool
    qkv_bias: bool
    max_context: PositiveInt
    published_params: PositiveFloat
    source: str
    head_dim: PositiveInt | None = None
    id: SetByLoader = ""

    def __post_init__(self) -> None:
        if self.heads % self.kv_heads:
            raise ValueError(
                f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})"
            )

    @property
    def kind(self) -> str:
        return "llm"

    def context_overflow(self, prompt_tokens: int, output_tokens: int) -> ContextOverflow | None:
        """Why prompt plus output do not fit the context window, or None if they do. The one
        context rule of the engine, the agent and the orchestrator's request checks."""
        total = prompt_tokens + output_tokens
        if total <= self.max_context:
            return None
        return ContextOverflow(
            # The prompt is at fault if it alone leaves no room for a token of output.
            "prompt_tokens" if prompt_tokens >= self.max_context else "output_tokens",
            f"prompt ({prompt_tokens}) plus output ({output_tokens}) tokens exceed "
            f"{self.id}'s context of {self.max_context} tokens",
        )

    @property
    def dim_per_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @functools.cached_property
    def layer_params(self) -> int:
        """Weights of one transformer block: attention projections, gated MLP, two norms."""
        q_dim = self.heads * self.dim_per_head
        kv_dim = self.kv_heads * self.dim_per_head
        attention = 2 * self.hidden * q_dim + 2 * self.hidden * kv_dim
        if self.qkv_bias:
            attention += q_dim + 2 * kv_dim
        return attention + 3 * self.hidden * self.intermediate + 2 * self.hidden

    @functools.cached_property
    def params(self) -> int:
        """All parameters: blocks, input embedding, output head (unless tied), final norm."""
        embedding = self.vocab * self.hidden
        head = 0 if self.tied_embeddings else embedding
        return self.layers * self.layer_params + embedding + head + self.hidden

    @functools.cached_property
    def params_read_per_token(self) -> int:
        """Weights read to decode one token: every block and the output head. The input
        embedding is a table lookup of one row, except that a tied head reads it whole."""
        return self.layers * self.layer_params + self.vocab * self.hidden

    def weight_bytes(self, precision: Precision) -> float:
        """Bytes the weights occupy in memory (embedding and head at the head precision)."""
        blocks = self.layers * self.layer_params + self.hidden
        tables = self.params - blocks
        return blocks * precision.weight_bytes + tables * precision.head_weight_bytes

    def decode_weight_bytes(self, precision: Precision) -> float:
        """Bytes of weights read from memory per decode step (shared by a whole batch)."""
        blocks = self.layers * self.layer_params * precision.weight_bytes
        return blocks + self.vocab * self.hidden * precision.head_weight_bytes

    def kv_bytes_per_token(self, precision: Precision) -> float:
        """KV-cache bytes one token of context holds: a key and a value per layer and KV head."""
        return 2 * self.layers * self.kv_heads * self.dim_per_head * precision.activation_bytes

    def decode_flops(self, context_tokens: float) -> float:
        """FLOPs to generate one token with `context_tokens` already in the KV cache: 2 per
        weight used, plus attention over the context (QK^T and AV, 2 FLOPs per MAC each)."""
        q_dim = self.heads * self.dim_per_head
        return 2 * self.params_read_per_token + 4 * self.layers * q_dim * context_tokens

    def prefill_flops(self, prompt_tokens: int) -> float:
        """FLOPs to process a prompt: 2 per block weight per token, causal attention (half of
        the full P x P score matrix, QK^T and AV), and the output head for the last token only."""
        q_dim = self.heads * self.dim_per_head
        blocks = 2 * self.layers * self.layer_params * prompt_tokens
        attention = 2 * self.layers * q_dim * prompt_tokens * prompt_tokens
        return blocks + attention + 2 * self.vocab * self.hidden

    def activation_bytes(self, tokens: int, precision: Precision) -> float:
        """Peak activation memory while `tokens` are processed at once: the residual stream,
        the gated-MLP intermediates and FP32 logits (working buffers are reused per layer)."""
        per_token = (2 * self.hidden + 2 * self.intermediate) * precision.activation_bytes
        return tokens * per_token + 4 * self.vocab


@STRICT
@dataclass(frozen=True)
class VisionModel:
    """A vision network, costed per image at its native input resolution."""

    task: VisionTask
    params: PositiveFloat
    flops: PositiveFloat
    resolution: PositiveInt
    source: str
    id: SetByLoader = ""

    @property
    def kind(self) -> str:
        return "vision"

    def weight_bytes(self, precision: Precision) -> float:
        return self.params * precision.weight_bytes

    def activation_bytes(self, images: int, precision: Precision) -> float:
        """Peak activation memory: a bound of 64 channels at half the input resolution, twice
        (a layer's input and output), per image; tens of MB at 640x640, as runtimes report."""
        side = self.resolution // 2
        return images * 2 * 64 * side * side * precision.activation_bytes


Model = LLM | VisionModel
