"""The summary: one row per policy (plus the energy bounds), accumulated batch by batch.

`PolicyStats` is a records sink: it keeps counts, sums, two log-bucket histograms (latency and
TTFT, fleetsim.histogram) and arrivals per time bin and tier, never the requests themselves.

Columns of summary.csv:
- requests, served, dropped (no tier could take it: the reasons are in requests.parquet);
- slo_attainment: requests served within their SLO (or served, when they have none), over all
  requests, dropped ones included;
- latency and TTFT percentiles (seconds) over served requests, end to end as the client sees
  them (network both ways, queueing, escalation detours);
- joules_per_request: compute and network energy of every request (a dropped one counts what it
  spent) over all requests; node idle energy is the fleet's, not a request's, and is left out;
- fleet_energy_j: what the whole fleet drew over the run, from time 0 to the last request's end:
  every provisioned node's energy (idle power included, nothing while it is down) plus the
  network's; the number on an operator's bill, where joules_per_request is what routing moves;
- device/edge/cloud_share: where requests were served, as shares of all requests;
- escalations: moves to a later tier, summed over requests;
- mean_quality: the mean P(correct) of the answers to served LLM requests (npu_sim.quality);
- quality_vs_requested: their summed P(correct) over what the requested models would have
  summed on the same requests: 1 for a policy that always answers with the requested model,
  0.95 for one whose answers are right 95% as often (RouteLLM's "% of the strong model's
  quality"); vision requests and dropped ones are left out (SLO attainment counts drops);
- substituted_share: requests answered by another model than the requested one, over all;
- joules_vs_bound: joules_per_request over the lower bound at the same attainment and number
  of dropped requests (fleetsim.bound); never below 1.

Two more rows: `lower-bound` (the bound at the best policy's attainment and drops, the best
among those answering with the requested model when any did: a number, not a run, so only its
attainment, drops and joules) and `offline-feasible` (the clairvoyant
schedule of fleetsim.schedule, run through the simulator: a real run).

Numbers are written with 6 significant digits; same scenario and seed, same bytes.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fleetsim.histogram import LogHistogram
from fleetsim.records import DROPPED, Columns
from npu_sim.hardware import TIERS

COLUMNS = [
    "policy",
    "requests",
    "served",
    "dropped",
    "slo_attainment",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "ttft_p50_s",
    "ttft_p99_s",
    "joules_per_request",
    "fleet_energy_j",
    *[f"{tier}_share" for tier in TIERS],
    "escalations",
    "joules_vs_bound",
    "mean_quality",
    "quality_vs_requested",
    "substituted_share",
]
LOAD_BINS = 240


@dataclass
class PolicyStats:
    """Running totals of one policy's run (a `Recorder` sink)."""

    policy: str
    horizon_s: float
    requests: int = 0
    served: int = 0
    met: int = 0
    energy_j: float = 0.0
    network_j: float = 0.0
    #: The fleet's total energy over the run (set by the runner from the simulator's nodes).
    fleet_energy_j: float | None = None
    escalations: int = 0
    tiers: np.ndarray = field(default_factory=lambda: np.zeros(len(TIERS) + 1, dtype=np.int64))
    latency: LogHistogram = field(default_factory=LogHistogram)
    ttft: LogHistogram = field(default_factory=LogHistogram)
    load: np.ndarray = field(
        default_factory=lambda: np.zeros((LOAD_BINS, len(TIERS) + 1), dtype=np.int64)
    )
    answered: int = 0  # served LLM requests, whose answers have a quality
    p_correct: float = 0.0  # summed over them
    requested_p_correct: float = 0.0
    substituted: int | None = None  # None: not counted

    def __call__(self, batch: Columns) -> None:
        self.add_arrays(
            arrival_s=batch.arrival_s,
            served=batch.served,
            met=batch.met,
            tier=batch.tier,
            latency_s=batch.latency_s,
            ttft_s=batch.ttft_s,
            energy_j=batch.energy_j,
            escalations=batch.escalations,
            p_correct=batch.p_correct,
            requested_p_correct=batch.requested_p_correct,
            substituted=batch.substituted,
        )
        self.network_j += sum(outcome.network_energy_j for outcome in batch.outcomes)

    def add_arrays(
        self,
        *,
        arrival_s: np.ndarray,
        served: np.ndarray,
        met: np.ndarray,
        tier: np.ndarray,
        latency_s: np.ndarray,
        ttft_s: np.ndarray,
        energy_j: np.ndarray,
        escalations: np.ndarray,
        p_correct: np.ndarray | None = None,
        requested_p_correct: np.ndarray | None = None,
        substituted: np.ndarray | None = None,
    ) -> None:
        """Count a batch of requests given as columns (tier: TIER_CODE or DROPPED; latency
        and TTFT NaN where not served; P(correct) NaN where the answer has no quality)."""
        self.requests += len(arrival_s)
        self.served += int(served.sum())
        self.met += int(met.sum())
        self.energy_j += float(energy_j.sum())
        self.escalations += int(escalations.sum())
        codes = tier.astype(np.int64)
        self.tiers += np.bincount(codes, minlength=len(TIERS) + 1)
        self.latency.add(latency_s)
        self.ttft.add(ttft_s)
        bins = np.clip((arrival_s / self.bin_s).astype(np.int64), 0, LOAD_BINS - 1)
        np.add.at(self.load, (bins, codes), 1)
        if p_correct is not None and requested_p_correct is not None:
            answered = ~np.isnan(p_correct)
            self.answered += int(answered.sum())
            self.p_correct += float(p_correct[answered].sum())
            self.requested_p_correct += float(requested_p_correct[answered].sum())
        if substituted is not None:
            self.substituted = (self.substituted or 0) + int(substituted.sum())

    @property
    def bin_s(self) -> float:
        """Width of a load-over-time bin."""
        horizon = self.horizon_s if math.isfinite(self.horizon_s) and self.horizon_s > 0 else 1.0
        return horizon / LOAD_BINS

    @property
    def dropped(self) -> int:
        return int(self.tiers[DROPPED])

    @property
    def attainment(self) -> float:
        return self.met / self.requests if self.requests else 0.0

    @property
    def joules_per_request(self) -> float:
        return self.energy_j / self.requests if self.requests else 0.0

    @property
    def mean_quality(self) -> float | None:
        return self.p_correct / self.answered if self.answered else None

    @property
    def quality_vs_requested(self) -> float | None:
        return self.p_correct / self.requested_p_correct if self.requested_p_correct else None

    @property
    def substituted_share(self) -> float | None:
        if self.substituted is None:
            return None
        return self.substituted / self.requests if self.requests else 0.0

    def row(self, bound_joules: float | None = None) -> dict[str, Any]:
        n = self.requests or 1
        return {
            "policy": self.policy,
            "requests": self.requests,
            "served": self.served,
            "dropped": self.dropped,
            "slo_attainment": self.attainment,
            "latency_p50_s": self.latency.quantile(0.50),
            "latency_p95_s": self.latency.quantile(0.95),
            "latency_p99_s": self.latency.quantile(0.99),
            "ttft_p50_s": self.ttft.quantile(0.50),
            "ttft_p99_s": self.ttft.quantile(0.99),
            "joules_per_request": self.joules_per_request,
            "fleet_energy_j": self.fleet_energy_j,
            **{f"{tier}_share": int(self.tiers[i]) / n for i, tier in enumerate(TIERS)},
            "escalations": self.escalations,
            "joules_vs_bound": self.joules_per_request / bound_joules if bound_joules else None,
            "mean_quality": self.mean_quality,
            "quality_vs_requested": self.quality_vs_requested,
            "substituted_share": self.substituted_share,
        }


def cell(value: Any) -> str:
    """A value as summary.csv writes it: 6 significant digits, empty for none."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([cell(row.get(column)) for column in COLUMNS])
