"""Per-request records: one row per request and policy, streamed out in batches.

The simulator hands every request's `Outcome` to a `Recorder`, which buffers a batch of rows,
turns it into columns (`Columns`, numpy where numeric) and passes them to its sinks: the Parquet
file (`ParquetSink`, one row group per batch through pyarrow's ParquetWriter) and the running
summary (fleetsim.summary). Then the batch is dropped, so memory stays flat however many
requests a run has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from npu_sim.hardware import TIERS
from npu_sim.quality import Answer, QualityModel
from routing.answers import answer_quality
from routing.escalation import Outcome
from routing.request import Request

#: Outcome tier as a small integer (dropped requests have no tier).
TIER_CODE = {tier: i for i, tier in enumerate(TIERS)}
DROPPED = len(TIERS)
TIER_OR_DROPPED: dict[str | None, int] = {**TIER_CODE, None: DROPPED}
TIER_NAMES = pa.array(TIERS, pa.string())  # decodes TIER_CODE
BATCH_ROWS = 16_384

SCHEMA = pa.schema(
    [
        ("policy", pa.string()),
        ("request_id", pa.string()),
        ("arrival_s", pa.float64()),
        ("model", pa.string()),
        ("origin", pa.string()),
        ("prompt_tokens", pa.int32()),
        ("output_tokens", pa.int32()),
        ("tier", pa.string()),  # null when dropped
        ("node", pa.string()),
        ("served_model", pa.string()),  # the cascade may answer with its small model
        ("ttft_s", pa.float64()),  # null when dropped
        ("latency_s", pa.float64()),  # null when dropped
        ("energy_j", pa.float64()),  # compute + network, also what a dropped request spent
        ("network_s", pa.float64()),
        ("network_energy_j", pa.float64()),
        ("slo_s", pa.float64()),  # null: no SLO
        ("slo_met", pa.bool_()),  # null: no SLO
        ("escalations", pa.int16()),
        ("path", pa.string()),  # e.g. "device:slo_miss>edge:queue_full", "" if none
        ("dropped_reason", pa.string()),  # null when served
        ("task", pa.string()),  # an LLM request's task family (npu_sim.quality); null: vision
        ("p_correct", pa.float64()),  # the answer's P(correct); null: vision, or dropped
        ("correct", pa.bool_()),  # the answer's sampled outcome (null as p_correct)
        ("requested_p_correct", pa.float64()),  # P(correct) of the requested model, same request
    ]
)

Row = tuple[float, Request, Outcome]


@dataclass
class Columns:
    """One batch of records of one policy, as columns (numpy where the summary computes)."""

    policy: str
    arrival_s: np.ndarray
    requests: list[Request]
    outcomes: list[Outcome]
    served: np.ndarray  # bool
    tier: np.ndarray  # TIER_CODE, DROPPED when dropped
    ttft_s: np.ndarray  # NaN when dropped
    latency_s: np.ndarray  # NaN when dropped
    energy_j: np.ndarray
    met: np.ndarray  # bool: served and within its SLO (or without one)
    escalations: np.ndarray  # int
    answers: list[Answer | None]  # the answer's quality (served LLM requests), else None
    p_correct: np.ndarray  # NaN where no answer quality
    requested_p_correct: np.ndarray  # NaN where no answer quality
    substituted: np.ndarray  # bool: served by another model than the requested one

    def __len__(self) -> int:
        return len(self.outcomes)


def answers(
    requests: Sequence[Request], outcomes: Sequence[Outcome], quality: QualityModel | None
) -> list[Answer | None]:
    """Each served LLM request's answer quality (routing.answers: the answering model's
    P(correct) and outcome, and the requested model's P(correct)), keyed by the run's seed and
    the request id, so a live reply and a simulated record of one request agree."""
    if quality is None:
        return [None] * len(outcomes)
    return [answer_quality(quality, r, o) for r, o in zip(requests, outcomes, strict=True)]


def columns(policy: str, rows: Sequence[Row], quality: QualityModel | None = None) -> Columns:
    """Column-wise views of a batch: one generator pass per column measured faster than
    transposing the rows into tuples (which also feeds the garbage collector). Answer quality
    is computed with `quality` (none without it)."""
    n = len(rows)
    outcomes = [row[2] for row in rows]
    requests = [row[1] for row in rows]
    served = np.fromiter((o.served for o in outcomes), dtype=bool, count=n)
    dropped = ~served
    # A dropped request's times are not latencies: NaN, set in one vectorised step.
    ttft_s = np.fromiter((o.ttft_s for o in outcomes), dtype=float, count=n)
    ttft_s[dropped] = np.nan
    latency_s = np.fromiter((o.latency_s for o in outcomes), dtype=float, count=n)
    latency_s[dropped] = np.nan
    nan = float("nan")
    quality_of = answers(requests, outcomes, quality)
    return Columns(
        policy=policy,
        arrival_s=np.fromiter((row[0] for row in rows), dtype=float, count=n),
        requests=requests,
        outcomes=outcomes,
        served=served,
        tier=np.fromiter((TIER_OR_DROPPED[o.tier] for o in outcomes), dtype=np.int8, count=n),
        ttft_s=ttft_s,
        latency_s=latency_s,
        energy_j=np.fromiter((o.energy_j for o in outcomes), dtype=float, count=n),
        met=np.fromiter((o.served and o.slo_met is not False for o in outcomes), bool, n),
        escalations=np.fromiter((len(o.escalations) for o in outcomes), dtype=np.int64, count=n),
        answers=quality_of,
        p_correct=np.fromiter((a.p_correct if a else nan for a in quality_of), float, n),
        requested_p_correct=np.fromiter(
            (a.requested_p_correct if a else nan for a in quality_of), float, n
        ),
        substituted=np.fromiter(
            (o.served and o.model != r.model for r, o in zip(requests, outcomes, strict=True)),
            bool,
            n,
        ),
    )


def _path(outcome: Outcome) -> str:
    return ">".join(f"{e.from_tier}:{e.reason}" for e in outcome.escalations)


def record_batch(batch: Columns) -> pa.RecordBatch:
    """The batch as Arrow columns. Columns the batch already holds as numbers are converted
    whole (the tier names decoded from their codes); the path and the reason are built only
    for the few rows that have one."""
    requests, outcomes = batch.requests, batch.outcomes
    n = len(batch)
    served = batch.served
    dropped = ~served
    paths = [""] * n
    for i in np.flatnonzero(batch.escalations).tolist():
        paths[i] = _path(outcomes[i])
    reasons: list[str | None] = [None] * n
    for i in np.flatnonzero(dropped).tolist():
        reasons[i] = outcomes[i].reason
    tiers = pa.DictionaryArray.from_arrays(pa.array(batch.tier, mask=dropped), TIER_NAMES)
    unanswered = np.isnan(batch.p_correct)
    arrays = [
        pa.repeat(pa.scalar(batch.policy, pa.string()), n),
        pa.array([r.id for r in requests], pa.string()),
        pa.array(batch.arrival_s, pa.float64()),
        pa.array([r.model for r in requests], pa.string()),
        pa.array([r.origin for r in requests], pa.string()),
        pa.array([r.prompt_tokens for r in requests], pa.int32()),
        pa.array([r.output_tokens for r in requests], pa.int32()),
        tiers.cast(pa.string()),
        pa.array([o.node for o in outcomes], pa.string()),
        pa.array([o.model for o in outcomes], pa.string(), mask=dropped),
        pa.array(batch.ttft_s, pa.float64(), mask=dropped),
        pa.array(batch.latency_s, pa.float64(), mask=dropped),
        pa.array(batch.energy_j, pa.float64()),
        pa.array([o.network_s for o in outcomes], pa.float64()),
        pa.array([o.network_energy_j for o in outcomes], pa.float64()),
        pa.array([r.slo_s for r in requests], pa.float64()),
        pa.array([o.slo_met for o in outcomes], pa.bool_()),
        pa.array(batch.escalations, pa.int16()),
        pa.array(paths, pa.string()),
        pa.array(reasons, pa.string()),
        pa.array([r.task for r in requests], pa.string()),
        pa.array(batch.p_correct, pa.float64(), mask=unanswered),
        pa.array([a.correct if a else None for a in batch.answers], pa.bool_()),
        pa.array(batch.requested_p_correct, pa.float64(), mask=unanswered),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


class ParquetSink:
    """requests.parquet, written one row group per batch (pyarrow ParquetWriter).

    Encoding and compressing a batch runs in a background thread (pyarrow releases the GIL
    there), overlapping the simulation of the next batch on a second core; at most one batch
    is in flight, so memory stays bounded."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self._pending: Future[None] | None = None

    def __call__(self, batch: Columns) -> None:
        records = record_batch(batch)
        self._wait()
        self._pending = self._pool.submit(self._writer.write_batch, records)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()  # re-raises a write error here
            self._pending = None

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown()
            self._writer.close()


Sink = Callable[[Columns], None]


class Recorder:
    """Collects one policy's outcomes (the simulator's `emit`) and flushes them to `sinks` a
    batch at a time; `progress(n)` hears of every flushed batch; `quality` (the run's seed)
    gives the answers' quality."""

    def __init__(
        self,
        policy: str,
        sinks: Sequence[Sink],
        progress: Callable[[int], None] | None = None,
        batch_rows: int = BATCH_ROWS,
        quality: QualityModel | None = None,
    ) -> None:
        self.policy = policy
        self.quality = quality
        self.sinks = list(sinks)
        self.progress = progress
        self.batch_rows = batch_rows
        self.count = 0
        self._rows: list[Row] = []

    def __call__(self, arrival: float, request: Request, outcome: Outcome) -> None:
        rows = self._rows
        rows.append((arrival, request, outcome))
        if len(rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        batch = columns(self.policy, self._rows, self.quality)
        self._rows = []
        self.count += len(batch)
        for sink in self.sinks:
            sink(batch)
        if self.progress is not None:
            self.progress(len(batch))
