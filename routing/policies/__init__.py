"""The built-in routing policies, one per module, each importable from here
(`routing.policies.CloudOnly`), registered by name in `BUILTINS`.

The orchestrator and fleetsim load them, and users' own, through `routing.specs.PolicySpec`,
so a policy that wins in simulation is the very object that routes live traffic.
"""

from __future__ import annotations

from routing.policies.cascade import Cascade
from routing.policies.cloud_only import CloudOnly
from routing.policies.device_first import DeviceFirst
from routing.policies.edge_only import EdgeOnly
from routing.policies.energy_aware import EnergyAware
from routing.policies.energy_marginal import EnergyMarginal
from routing.policies.latency_greedy import LatencyGreedy
from routing.policies.learned_router import LearnedRouter
from routing.policies.power_of_two import PowerOfTwo
from routing.policies.random_substitution import RandomSubstitution
from routing.policies.smallest_model import SmallestModel
from routing.policy import Policy

BUILTINS: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        DeviceFirst,
        CloudOnly,
        EdgeOnly,
        LatencyGreedy,
        EnergyAware,
        EnergyMarginal,
        PowerOfTwo,
        Cascade,
        LearnedRouter,
        RandomSubstitution,
        SmallestModel,
    )
}
DEFAULT_POLICY = DeviceFirst.name

__all__ = [
    "BUILTINS",
    "DEFAULT_POLICY",
    "Cascade",
    "CloudOnly",
    "DeviceFirst",
    "EdgeOnly",
    "EnergyAware",
    "EnergyMarginal",
    "LatencyGreedy",
    "LearnedRouter",
    "PowerOfTwo",
    "RandomSubstitution",
    "SmallestModel",
]
