"""edge-only: every request to an edge box."""

from __future__ import annotations

from routing.policies.single_tier import SingleTier


class EdgeOnly(SingleTier):
    name = "edge-only"
    tiers = ("edge",)
