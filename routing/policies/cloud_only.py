"""cloud-only: every request to the cloud (the baseline offloading is judged by)."""

from __future__ import annotations

from routing.policies.single_tier import SingleTier


class CloudOnly(SingleTier):
    name = "cloud-only"
    tiers = ("cloud",)
