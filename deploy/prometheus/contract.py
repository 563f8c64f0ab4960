"""The metric contract: every name a dashboard, rule or user may rely on, with its labels.

The orchestrator and the device agents declare these metrics; this table is what the Prometheus
rules, the Grafana dashboards and their tests are checked against, so a rename on either side
fails a test instead of silently emptying a panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ORCHESTRATOR_JOB = "edgetier-orchestrator"
AGENTS_JOB = "edgetier-agents"

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    """One contract metric: its type, its labels and the scrape job that exposes it."""

    kind: Kind
    labels: tuple[str, ...]
    job: str

    def series(self, name: str) -> tuple[str, ...]:
        """The series names Prometheus stores for it: counters gain `_total`, histograms
        `_bucket`/`_sum`/`_count`, which is what PromQL actually names."""
        if self.kind == "histogram":
            return (f"{name}_bucket", f"{name}_sum", f"{name}_count")
        return (name,)


METRICS: dict[str, Metric] = {
    # Orchestrator: one series per final reply, whichever tier served it ("none" if no tier did).
    "edgetier_request_duration_seconds": Metric(
        "histogram", ("tier", "model", "outcome"), ORCHESTRATOR_JOB
    ),
    "edgetier_ttft_seconds": Metric("histogram", ("tier", "model", "outcome"), ORCHESTRATOR_JOB),
    "edgetier_requests_total": Metric("counter", ("tier", "model", "outcome"), ORCHESTRATOR_JOB),
    "edgetier_escalations_total": Metric(
        "counter", ("from_tier", "to_tier", "reason"), ORCHESTRATOR_JOB
    ),
    "edgetier_request_energy_joules_total": Metric("counter", ("tier", "model"), ORCHESTRATOR_JOB),
    "edgetier_slo_requests_total": Metric("counter", ("tier", "model", "met"), ORCHESTRATOR_JOB),
    "edgetier_node_up": Metric("gauge", ("tier", "node"), ORCHESTRATOR_JOB),
    # P(correct) of each served LLM answer (npu_sim.quality), by the model that answered.
    "edgetier_answer_p_correct_ratio": Metric(
        "histogram", ("tier", "model", "task"), ORCHESTRATOR_JOB
    ),
    # Device agents: one process hosts many nodes.
    "edgetier_energy_joules_total": Metric("counter", ("tier", "node"), AGENTS_JOB),
    "edgetier_power_watts": Metric("gauge", ("tier", "node"), AGENTS_JOB),
    "edgetier_queue_depth": Metric("gauge", ("tier", "node"), AGENTS_JOB),
    "edgetier_node_in_flight": Metric("gauge", ("tier", "node"), AGENTS_JOB),
    "edgetier_node_utilisation_ratio": Metric("gauge", ("tier", "node"), AGENTS_JOB),
    "edgetier_agent_requests_total": Metric("counter", ("tier", "model", "outcome"), AGENTS_JOB),
    "edgetier_agent_run_duration_seconds": Metric("histogram", ("tier", "model"), AGENTS_JOB),
}

SERIES: frozenset[str] = frozenset(s for name, m in METRICS.items() for s in m.series(name))
"""Every series name a PromQL expression may select from the contract."""
