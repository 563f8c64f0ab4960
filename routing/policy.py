"""The policy interface: `decide(request, view) -> Plan`, and the plan a router follows.

A plan is the whole escalation path decided up front: an ordered tuple of steps, one per tier
the policy considered. A step either names a node to try or says why the policy passed over
that tier (`skip`: the model does not fit there, is not served there, or would miss the SLO).
The router tries the steps in order and moves on when a node refuses (queue full, unavailable),
so the policy never waits on a socket, and the same plan drives live and simulated runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from npu_sim.catalog import Catalog
from npu_sim.fastinit import fast_init
from npu_sim.hardware import Tier
from routing.cluster import ClusterView
from routing.refusals import Reason
from routing.request import Request


@fast_init
@dataclass(frozen=True, slots=True)
class Step:
    """One tier of a plan: try `node` with `model`, or (when `skip` is set) pass over the tier.

    `min_confidence`, set by the cascade, asks the router to escalate a successful answer whose
    confidence (`Policy.confidence`) is below it.
    """

    tier: Tier
    model: str
    node: str | None = None
    skip: Reason | None = None
    min_confidence: float | None = None


Plan = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Substitute:
    """A model other than the requested one that a policy may answer a request with, on a tier;
    `final` when that answer ends the request (a cascade's confident answer), else it is tried
    first and may escalate."""

    model: str
    tier: Tier
    final: bool


class Policy(ABC):
    """A routing policy: one small class with one decision method.

    Built-ins register under `name` (routing.policies.BUILTINS); a user's policy is loaded by
    its dotted path (`package.module:Class`, routing.specs) and may subclass a built-in. The
    constructor's keyword arguments are the policy's options, checked against its signature;
    `seed`, when accepted, seeds its randomness.

    The plan contract (tests/test_plan_contract.py): a plan is never empty; each step names a
    node or why its tier was passed over (`skip`), only nodes of the view on the step's tier;
    and it covers every tier in use, or exactly `tiers` when the policy sets them.
    """

    name: ClassVar[str] = ""
    #: The tiers this policy's plans consider; None: every tier the cluster has.
    tiers: ClassVar[tuple[Tier, ...] | None] = None

    @abstractmethod
    def decide(self, request: Request, view: ClusterView) -> Plan:
        """The steps to try for `request`, best first. Pure: reads the view, no I/O."""

    def confidence(self, request: Request, model: str) -> float:
        """How sure the answer of `model` to `request` is, for a step with `min_confidence`."""
        return 1.0

    def substitutes(self, request: Request, catalog: Catalog) -> tuple[Substitute, ...]:
        """The answers by other models than the requested one this policy may give `request`,
        so that bounds and records account for them without knowing the policy's type."""
        return ()
