"""Chips and numeric precisions: the catalog records the performance model reads.

A `Hardware` is what a datasheet says about a chip (peaks, memory, power); a `Precision` says how
many bytes a weight takes and which of the chip's compute rates its matrix multiplies use. Both
are plain frozen dataclasses, validated by pydantic when the catalog loads (npu_sim/catalog.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import pydantic
from pydantic import NonNegativeFloat, PositiveFloat

from npu_sim.datafile import STRICT, SetByLoader

Tier = Literal["device", "edge", "cloud"]
#: Nearest first: the order requests escalate in.
TIERS: tuple[Tier, ...] = ("device", "edge", "cloud")
ComputeRate = Literal["int4", "int8", "int16", "fp16"]
#: NPUs and GPUs run LLMs differently (npu_sim/perf.py); a chip's family says which it is.
Kind = Literal["npu", "gpu"]
#: The numbers of a chip that `sources` says where they come from.
SourcedField = Literal[
    "peak_tops", "memory_gib", "memory_bandwidth_gbs", "idle_w", "max_w", "host_link_gbs"
]

GIB = 2**30
GB = 1e9
TERA = 1e12


@STRICT
@dataclass(frozen=True)
class Precision:
    """Bytes per weight (for an LLM's embedding and output head: `head_weight_bytes`) and the
    compute rates, in order of preference, a precision runs at."""

    weight_bytes: Annotated[float, pydantic.Field(gt=0, le=4)]
    head_weight_bytes: Annotated[float, pydantic.Field(gt=0, le=4)]
    activation_bytes: Annotated[int, pydantic.Field(ge=1, le=4)]
    compute: Annotated[tuple[ComputeRate, ...], pydantic.Field(min_length=1)]
    name: SetByLoader = ""


@STRICT
@dataclass(frozen=True)
class Hardware:
    """A chip as its datasheet describes it, with the source of every number in `sources`."""

    name: str
    tier: Tier
    family: str
    peak_tops: dict[ComputeRate, float]
    memory_gib: PositiveFloat
    memory_bandwidth_gbs: PositiveFloat
    idle_w: NonNegativeFloat
    max_w: PositiveFloat
    batching: bool
    host_link_gbs: PositiveFloat
    sources: dict[SourcedField, str]
    id: SetByLoader = ""

    def __post_init__(self) -> None:
        if self.max_w < self.idle_w:
            raise ValueError(f"max_w ({self.max_w}) is below idle_w ({self.idle_w})")
        if any(v <= 0 for v in self.peak_tops.values()):
            raise ValueError("peak_tops values must be positive")
        missing = {"peak_tops", "memory_gib", "memory_bandwidth_gbs", "idle_w", "max_w"} - set(
            self.sources
        )
        if missing:
            raise ValueError(
                f"sources must name where each number comes from; missing {sorted(missing)}"
            )

    @property
    def memory_bytes(self) -> float:
        return self.memory_gib * GIB

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_gbs * GB

    @property
    def host_link_bytes_per_s(self) -> float:
        return self.host_link_gbs * GB

    def compute_rate(self, precision: Precision) -> ComputeRate | None:
        """The first of the precision's compute rates this chip has, or None if it has none."""
        return next((rate for rate in precision.compute if rate in self.peak_tops), None)

    def peak_ops_per_s(self, precision: Precision) -> float:
        """Dense operations per second at this precision; raises if the chip cannot run it."""
        rate = self.compute_rate(precision)
        if rate is None:
            raise ValueError(
                f"{self.id} has no compute rate for {precision.name} (needs one of "
                f"{', '.join(precision.compute)}; has {', '.join(self.peak_tops)})"
            )
        return self.peak_tops[rate] * TERA
