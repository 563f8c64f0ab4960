"""The orchestrator's Prometheus metrics, declared once (names are a contract with dashboards).

Latency and TTFT are the modelled end-to-end seconds a request took (network included), so
they mean the same at any --time-scale. Labels are bounded: tiers, catalog model ids, outcomes,
escalation reasons, node ids, task families.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from npu_sim.quality import Answer
from routing.escalation import Outcome

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250)
QUALITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
NO_TIER = "none"


class OrchestratorMetrics:
    """Metric objects on an injectable registry (tests run several orchestrators in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["tier", "model", "outcome"]
        self.duration = Histogram(
            "edgetier_request_duration_seconds",
            "End-to-end modelled latency of requests, network included.",
            labels,
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.ttft = Histogram(
            "edgetier_ttft_seconds",
            "End-to-end modelled time to first token (for vision models: to the answer).",
            labels,
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.requests = Counter(
            "edgetier_requests", "Requests by final outcome.", labels, registry=self.registry
        )
        self.escalations = Counter(
            "edgetier_escalations",
            "Moves of a request from one tier to the next, by reason.",
            ["from_tier", "to_tier", "reason"],
            registry=self.registry,
        )
        self.energy = Counter(
            "edgetier_request_energy_joules",
            "Energy attributed to served requests: compute on every node tried plus network.",
            ["tier", "model"],
            registry=self.registry,
        )
        self.slo = Counter(
            "edgetier_slo_requests",
            "Requests that had a latency SLO, by whether they met it.",
            ["tier", "model", "met"],
            registry=self.registry,
        )
        self.answer_quality = Histogram(
            "edgetier_answer_p_correct_ratio",
            "P(correct) of each LLM answer (npu_sim.quality: the answering model on the "
            "request's task and difficulty); its mean is the expected accuracy.",
            ["tier", "model", "task"],
            registry=self.registry,
            buckets=QUALITY_BUCKETS,
        )
        self.node_up = Gauge(
            "edgetier_node_up",
            "1 if the node is up as the orchestrator sees it, else 0.",
            ["tier", "node"],
            registry=self.registry,
        )

    def record(self, outcome: Outcome) -> None:
        """Count one final answer, labelled with its status in lower case (ok,
        resource_exhausted, unavailable)."""
        tier = outcome.tier or NO_TIER
        labels = (tier, outcome.model, outcome.status.lower())
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(outcome.latency_s)
        self.ttft.labels(*labels).observe(outcome.ttft_s)
        for step in outcome.escalations:
            self.escalations.labels(step.from_tier, step.to_tier or NO_TIER, step.reason).inc()
        if outcome.served:
            self.energy.labels(tier, outcome.model).inc(outcome.energy_j)
        if outcome.slo_met is not None:
            self.slo.labels(tier, outcome.model, "true" if outcome.slo_met else "false").inc()

    def answered(self, outcome: Outcome, answer: Answer) -> None:
        """Observe the quality of one served LLM answer."""
        self.answer_quality.labels(outcome.tier or NO_TIER, outcome.model, answer.task).observe(
            answer.p_correct
        )

    def rejected(self, model: str, status: str) -> None:
        """Count a request refused before routing (bad input, unknown model)."""
        self.requests.labels(NO_TIER, model, status).inc()
