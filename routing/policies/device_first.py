"""device-first (the default): run on the device, escalate to edge, then cloud.

Small models stay on the phone or camera that asked; a tier is passed over when the model does
not fit or is not served there, its queue is full, or it is predicted to miss the SLO.
"""

from __future__ import annotations

import random

from routing.cluster import ClusterView
from routing.placement import escalating
from routing.policy import Plan, Policy
from routing.request import Request


class DeviceFirst(Policy):
    name = "device-first"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def decide(self, request: Request, view: ClusterView) -> Plan:
        return escalating(view, request, self.rng)
