"""The one refusal vocabulary: why a tier is passed over, why a node refuses a request, and why
a request ends unserved.

Every name here is a label value of metrics and records (a contract users' dashboards and
scripts read), and the gRPC status code each node refusal travels as is named here too, so the
agent (which answers with it), the router (which reads it back) and fleetsim (which has no wire
and maps the engine's refusal directly) agree by construction. The shells turn the code names
into `grpc.StatusCode`; the core never imports grpc.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

#: Why a request moved on from a tier (an escalation's `reason`, a plan step's `skip`).
Reason = Literal[
    "queue_full",  # the node's queue is full: try elsewhere, or later
    "does_not_fit",  # the model cannot fit the tier's memory at any precision
    "not_served",  # no node of the tier serves the model
    "unavailable",  # the node is down, unreachable or shutting down
    "timeout",  # the attempt ran past its limit (`escalation.attempt_limit_s`)
    "slo_miss",  # the policy predicts the tier would miss the request's SLO
    "low_confidence",  # a cascade's small model answered below its confidence threshold
    "error",  # the node answered with an error that is not a refusal
]


@dataclass(frozen=True)
class Refusal:
    """How one kind of node refusal travels: the reason the router records, the gRPC status
    code the agent answers with, and the agent's metric outcome label."""

    reason: Reason
    status: str  # a grpc.StatusCode name
    outcome: str  # edgetier_agent_requests_total{outcome}


#: Why a node refuses a request: the engine's `RejectReason`s, then the agent's own.
NODE_REFUSALS: dict[str, Refusal] = {
    "queue_full": Refusal("queue_full", "RESOURCE_EXHAUSTED", "queue_full"),
    "does_not_fit": Refusal("does_not_fit", "FAILED_PRECONDITION", "does_not_fit"),
    "unknown_model": Refusal("not_served", "NOT_FOUND", "not_found"),
    "bad_request": Refusal("error", "INVALID_ARGUMENT", "invalid"),
    "unknown_node": Refusal("not_served", "NOT_FOUND", "not_found"),
    "shutting_down": Refusal("unavailable", "UNAVAILABLE", "unavailable"),
}

#: A failed call that is not a node's own answer, as the router reads its status code.
_CALL_FAILURES: dict[str, Reason] = {
    "UNAVAILABLE": "unavailable",
    "DEADLINE_EXCEEDED": "timeout",
    "CANCELLED": "unavailable",
}
_STATUS_REASONS: dict[str, Reason] = {
    **{refusal.status: refusal.reason for refusal in NODE_REFUSALS.values()},
    **_CALL_FAILURES,
}


def reason_for_status(status: str) -> Reason:
    """What the router records for a call to a node that ended with the gRPC status `status`
    (a `grpc.StatusCode` name)."""
    return _STATUS_REASONS.get(status, "error")


#: Reasons that say a tier can never serve the model, whatever its load.
NEVER_HERE: frozenset[Reason] = frozenset({"not_served", "does_not_fit"})


def unserved_status(reasons: Iterable[Reason]) -> Literal["RESOURCE_EXHAUSTED", "UNAVAILABLE"]:
    """The status of a request no tier served: RESOURCE_EXHAUSTED when only full queues stood
    in its way (retrying later can work), UNAVAILABLE otherwise (nothing up can serve it)."""
    blocking = set(reasons) - NEVER_HERE
    return "RESOURCE_EXHAUSTED" if blocking == {"queue_full"} else "UNAVAILABLE"
