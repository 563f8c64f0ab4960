"""The one mapping between the core's tier names and the protobuf `edgetier.v1.Tier` enum."""

from __future__ import annotations

from edgetier.v1 import common_pb2
from npu_sim.hardware import Tier

TIER_NAMES: dict[int, Tier] = {
    common_pb2.TIER_DEVICE: "device",
    common_pb2.TIER_EDGE: "edge",
    common_pb2.TIER_CLOUD: "cloud",
}
TIER_VALUES: dict[Tier, int] = {name: value for value, name in TIER_NAMES.items()}
