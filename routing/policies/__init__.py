"""Routing policies: pure decisions `decide(request, view) -> Plan`, registered by name.

The orchestrator picks one per process (overridable per request) and fleetsim compares them;
both look them up here, so a policy that wins in simulation is the very object that routes live
traffic.
"""

from __future__ import annotations

from typing import Any

from routing.policies.cascade import Cascade
from routing.policies.device_first import DeviceFirst
from routing.policies.energy_aware import EnergyAware
from routing.policies.latency_greedy import LatencyGreedy
from routing.policies.power_of_two import PowerOfTwo
from routing.policies.single_tier import CloudOnly, EdgeOnly
from routing.policy import Plan, Policy, Step

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (DeviceFirst, CloudOnly, EdgeOnly, LatencyGreedy, EnergyAware, PowerOfTwo, Cascade)
}
DEFAULT_POLICY = DeviceFirst.name


class UnknownPolicyError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown policy {self.name!r}; valid: {', '.join(sorted(POLICIES))}"


def make_policy(name: str, seed: int = 0, **options: Any) -> Policy:
    """A fresh policy by name; raises UnknownPolicyError listing the valid names."""
    try:
        cls = POLICIES[name]
    except KeyError:
        raise UnknownPolicyError(name) from None
    return cls(seed=seed, **options)


__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "Plan",
    "Policy",
    "Step",
    "UnknownPolicyError",
    "make_policy",
]
