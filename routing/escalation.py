"""Following a plan to one final answer: the escalation path, and what the request cost.

`Escalator` is the router's bookkeeping, with no I/O: which step to try next, what a refusal or
a low-confidence answer cost (modelled seconds and joules, network included), and the final
`Outcome`. The live router drives it with gRPC calls, fleetsim with node-engine events, so both
account a request the same way. Every request ends in exactly one outcome: served, or not with
the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npu_sim.fastinit import fast_init
from npu_sim.hardware import Tier
from npu_sim.models import Model
from routing.network import NetworkModel
from routing.policy import Plan, Step
from routing.refusals import Reason, unserved_status
from routing.request import Request

#: An attempt may take this many times its predicted latency before the router gives up on the
#: node and escalates (reason "timeout"), but never less than a floor (the orchestrator's
#: setting). Here, in the core, so the live router and fleetsim give up at the same point.
ATTEMPT_FACTOR = 4.0


def attempt_limit_s(predicted_s: float, floor_s: float, time_scale: float = 1.0) -> float:
    """How long one attempt may take before the router gives up on it: `predicted_s` is
    modelled, the result and `floor_s` are in the driver's seconds (real seconds live, where
    modelled time runs `time_scale` real seconds per second; modelled seconds in fleetsim)."""
    return max(floor_s, ATTEMPT_FACTOR * predicted_s * time_scale)


@fast_init
@dataclass(frozen=True, slots=True)
class Escalation:
    """One move along the path: away from `from_tier` (to `to_tier`, None if nowhere)."""

    from_tier: Tier
    to_tier: Tier | None
    reason: Reason
    from_node: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class NodeResult:
    """What a node reports for a request it served (modelled seconds since it accepted it)."""

    ttft_s: float
    latency_s: float
    energy_j: float
    output_tokens: int


@fast_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """The one final answer to a request."""

    request_id: str
    served: bool
    tier: Tier | None
    node: str | None
    model: str
    escalations: tuple[Escalation, ...]
    ttft_s: float
    latency_s: float
    energy_j: float
    network_s: float
    network_energy_j: float
    output_tokens: int
    slo_met: bool | None
    reason: str = ""  # why it was not served

    @property
    def status(self) -> str:
        """The final status, a gRPC status code name: OK, or `refusals.unserved_status`."""
        if self.served:
            return "OK"
        return unserved_status(e.reason for e in self.escalations)


@dataclass(slots=True)  # one per request: fleetsim makes millions
class Escalator:
    """Walks a plan step by step; call `next_step`, then `refused` or `answered` for it."""

    request: Request
    plan: Plan
    network: NetworkModel
    models: dict[str, Model]  # every model the plan names
    _index: int = 0
    _current: Step | None = None
    _pending: list[tuple[Tier, Reason, str]] = field(default_factory=list)  # (tier, reason, node)
    _escalations: list[Escalation] = field(default_factory=list)
    _elapsed_s: float = 0.0
    _energy_j: float = 0.0
    _network_s: float = 0.0
    _network_j: float = 0.0
    _outcome: Outcome | None = None

    def next_step(self) -> Step | None:
        """The next step to dispatch (passed-over tiers are recorded), or None when done."""
        if self._outcome is not None:
            return None
        while self._index < len(self.plan):
            step = self.plan[self._index]
            self._index += 1
            if step.skip is not None:
                self._pending.append((step.tier, step.skip, step.node or ""))
                continue
            if self._pending:
                self._flush(step.tier)
            self._current = step
            return step
        self._finish_unserved()
        return None

    def refused(self, reason: Reason, elapsed_s: float = 0.0) -> None:
        """The current step's node refused or failed: the request went there and back."""
        step = self._take()
        link = self.network.link(step.tier)
        self._elapsed_s += link.rtt_s + elapsed_s
        self._network_s += link.rtt_s
        self._pending.append((step.tier, reason, step.node or ""))

    def answered(self, result: NodeResult, confidence: float = 1.0) -> bool:
        """The current step's node answered. True if that is the final answer; False if its
        confidence is below the step's minimum and the request escalates."""
        step, self._current = self._current, None  # _take, inlined (once per request)
        if step is None:
            raise RuntimeError("no step is being tried")
        model = self.models[step.model]
        transfer = self.network.transfer(
            step.tier, model, self.request.prompt_tokens, result.output_tokens
        )
        start = self._elapsed_s + transfer.seconds
        self._elapsed_s = start + result.latency_s
        self._energy_j += result.energy_j + transfer.joules
        self._network_s += transfer.seconds
        self._network_j += transfer.joules
        if step.min_confidence is not None and confidence < step.min_confidence:
            self._pending.append((step.tier, "low_confidence", step.node or ""))
            return False
        if self._pending:
            self._flush(None)
        slo = self.request.slo_s
        # Positional (the fields in order): keywords through a class call build a dict, and
        # this runs once per served request.
        self._outcome = Outcome(
            self.request.id,
            True,  # served
            step.tier,
            step.node,
            step.model,
            tuple(self._escalations),
            start + result.ttft_s,  # ttft_s
            self._elapsed_s,  # latency_s
            self._energy_j,
            self._network_s,
            self._network_j,
            result.output_tokens,
            None if slo is None else self._elapsed_s <= slo,  # slo_met
        )
        return True

    @property
    def outcome(self) -> Outcome:
        """The final outcome (after `next_step` returned None, or `answered` returned True)."""
        if self._outcome is None:
            raise RuntimeError("the plan is not finished")
        return self._outcome

    @property
    def elapsed_s(self) -> float:
        """Modelled time spent so far (for shrinking the deadline of the next step)."""
        return self._elapsed_s

    def _take(self) -> Step:
        if self._current is None:
            raise RuntimeError("no step is being tried")
        step, self._current = self._current, None
        return step

    def _flush(self, to_tier: Tier | None) -> None:
        for tier, reason, node in self._pending:
            self._escalations.append(Escalation(tier, to_tier, reason, node))
        self._pending.clear()

    def _finish_unserved(self) -> None:
        self._flush(None)
        reasons = [f"{e.from_tier}: {e.reason}" for e in self._escalations]
        self._outcome = Outcome(
            request_id=self.request.id,
            served=False,
            tier=None,
            node=None,
            model=self.request.model,
            escalations=tuple(self._escalations),
            ttft_s=self._elapsed_s,
            latency_s=self._elapsed_s,
            energy_j=self._energy_j,
            network_s=self._network_s,
            network_energy_j=self._network_j,
            output_tokens=0,
            slo_met=None if self.request.slo_s is None else False,
            reason="no tier can serve it (" + ("; ".join(reasons) or "no nodes") + ")",
        )
