"""The network between tiers: round-trip time, bandwidth and energy per byte of each link.

A request starts on the client's device. Served there, it crosses no network; served on an edge
box or in the cloud, its prompt (or image) goes up the link and its output comes back:

    seconds = rtt + (request bytes + response bytes) / bandwidth
    joules  = (request bytes + response bytes) * joules_per_byte

Default links (estimates, each with its reasoning; a scenario or stack file can override any field
of them with its `network:` section, `LinkOverrides`; the orchestrator takes the same as
`--link TIER:FIELD=VALUE,...`, parsed by `parse_link`):
- device -> edge, a Wi-Fi 6 / 5G local link: 4 ms RTT, 100 Mbit/s; a phone radio draws about
  1 W while moving 100 Mbit/s, so about 80 nJ/bit = 6.4e-7 J/byte.
- device -> cloud, through the operator network and the internet: 40 ms RTT, 50 Mbit/s;
  Aslan et al. (J. Industrial Ecology, 2018) put internet transmission at 0.06 kWh/GB in 2015,
  halving about every two years: about 0.006 kWh/GB by the mid-2020s = 2.2e-5 J/byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

import pydantic
from pydantic import NonNegativeFloat, PositiveFloat

from npu_sim.datafile import STRICT
from npu_sim.fastinit import fast_init
from npu_sim.hardware import Tier
from npu_sim.models import LLM, Model

#: Bytes per token on the wire (UTF-8 text averages about four characters a token).
BYTES_PER_TOKEN = 4
#: A camera frame sent as JPEG at about 10:1 compression of 24-bit RGB.
JPEG_COMPRESSION = 10


@dataclass(frozen=True)
class Link:
    """One link from the client's device to a tier."""

    rtt_s: NonNegativeFloat
    bandwidth_mbit_s: PositiveFloat
    joules_per_byte: NonNegativeFloat

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth_mbit_s * 1e6 / 8


@fast_init
@dataclass(frozen=True, slots=True)
class Transfer:
    seconds: float
    joules: float
    bytes: int


LOCAL = Link(rtt_s=0.0, bandwidth_mbit_s=1e9, joules_per_byte=0.0)
NO_TRANSFER = Transfer(0.0, 0.0, 0)


def _default_links() -> dict[Tier, Link]:
    return {
        "edge": Link(rtt_s=0.004, bandwidth_mbit_s=100, joules_per_byte=6.4e-7),
        "cloud": Link(rtt_s=0.040, bandwidth_mbit_s=50, joules_per_byte=2.2e-5),
    }


@dataclass(frozen=True)
class NetworkModel:
    """Links from a client device to each remote tier (the device itself is local)."""

    links: dict[Tier, Link] = field(default_factory=_default_links)

    def link(self, tier: Tier) -> Link:
        return LOCAL if tier == "device" else self.links[tier]

    def transfer(
        self, tier: Tier, model: Model, prompt_tokens: int, output_tokens: int
    ) -> Transfer:
        """Moving one request to a node of `tier` and its answer back."""
        if tier == "device":
            return NO_TRANSFER
        link = self.links[tier]
        size = request_bytes(model, prompt_tokens) + response_bytes(model, output_tokens)
        return Transfer(link.rtt_s + size / link.bytes_per_s, size * link.joules_per_byte, size)


@STRICT
@dataclass(frozen=True)
class LinkOverride:
    """Fields to change in the default link to a tier (the others are kept):
    edge 4 ms, 100 Mbit/s, 6.4e-7 J/byte; cloud 40 ms, 50 Mbit/s, 2.2e-5 J/byte."""

    rtt_s: NonNegativeFloat | None = None
    """Round-trip time from the client's device to the tier, seconds."""
    bandwidth_mbit_s: PositiveFloat | None = None
    """Bandwidth of the link, Mbit/s."""
    joules_per_byte: NonNegativeFloat | None = None
    """Energy to move one byte over the link, joules (counted in each request's energy)."""


RemoteTier = Literal["edge", "cloud"]
#: A `network:` section (scenario and stack files): the links it changes, by remote tier.
LinkOverrides = dict[RemoteTier, LinkOverride]


def with_overrides(overrides: LinkOverrides) -> NetworkModel:
    """The default links with `overrides` applied: what fleetsim and the live orchestrator
    both run, so one `network:` section means the same network both ways."""
    links = dict(NetworkModel().links)
    for tier, override in overrides.items():
        changes = {k: v for k, v in vars(override).items() if v is not None}
        links[tier] = replace(links[tier], **changes)
    return NetworkModel(links=links)


def link_text(tier: RemoteTier, override: LinkOverride) -> str:
    """`override` as `--link` takes it: `edge:rtt_s=0.004,bandwidth_mbit_s=100`."""
    changes = [f"{k}={v!r}" for k, v in vars(override).items() if v is not None]
    return f"{tier}:{','.join(changes)}"


def parse_link(text: str) -> tuple[RemoteTier, LinkOverride]:
    """`TIER:FIELD=VALUE,...` (the inverse of `link_text`); ValueError saying what is wrong."""
    tier, colon, body = text.partition(":")
    if not colon or tier not in ("edge", "cloud"):
        raise ValueError(f"{text!r}: expected edge:FIELD=VALUE,... or cloud:FIELD=VALUE,...")
    valid = [f.name for f in fields(LinkOverride)]
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, equals, value = item.partition("=")
        if not equals or key not in valid:
            raise ValueError(f"{text!r}: {item!r} is not FIELD=VALUE with FIELD one of {valid}")
        values[key] = value
    if not values:
        raise ValueError(f"{text!r}: give at least one of {', '.join(valid)}")
    try:
        override = pydantic.TypeAdapter(LinkOverride).validate_python(values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        raise ValueError(f"{text!r}: {error['loc'][0]}: {error['msg']}") from None
    return tier, override  # type: ignore[return-value]


def request_bytes(model: Model, prompt_tokens: int) -> int:
    """A prompt as text, or one image as JPEG at the model's native resolution."""
    if isinstance(model, LLM):
        return prompt_tokens * BYTES_PER_TOKEN
    return 3 * model.resolution * model.resolution // JPEG_COMPRESSION


def response_bytes(model: Model, output_tokens: int) -> int:
    """Generated text, or a small result (boxes, an embedding) for vision models."""
    return output_tokens * BYTES_PER_TOKEN if isinstance(model, LLM) else 2048
