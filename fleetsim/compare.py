"""Simulated against live: one scenario's two runs side by side (`edgetier sim run --live`).

Both runs are written the same way (requests.parquet and the summary rows of fleetsim.records
and fleetsim.summary; the live one by `edgetier load`), so they compare column by column. Per
policy: each compared summary column simulated, live and their ratio (live / simulated), and
the share of requests served on the same tier in both runs (joined on request id; a request
dropped in both counts as the same).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from fleetsim.summary import cell

#: The summary columns compared, in the order shown.
COMPARED = [
    "joules_per_request",
    "latency_p50_s",
    "latency_p99_s",
    "ttft_p50_s",
    "ttft_p99_s",
    "slo_attainment",
    "device_share",
    "edge_share",
    "cloud_share",
]
SAME_TIER = "same_tier_share"
COLUMNS = ["policy", "metric", "simulated", "live", "ratio"]


def tiers(records: Path) -> dict[tuple[str, str], str]:
    """(policy, request id) -> the tier that served it, or "dropped"."""
    table = pq.read_table(records, columns=["policy", "request_id", "tier"]).to_pydict()
    return {
        (policy, request): tier or "dropped"
        for policy, request, tier in zip(
            table["policy"], table["request_id"], table["tier"], strict=True
        )
    }


def same_tier_share(simulated: Path, live: Path) -> dict[str, float]:
    """Per policy of the live run: the share of its requests served on the same tier as in
    the simulated run (a request missing from the simulated run counts as different)."""
    sim, other = tiers(simulated), tiers(live)
    total: Counter[str] = Counter()
    same: Counter[str] = Counter()
    for key, tier in other.items():
        total[key[0]] += 1
        same[key[0]] += sim.get(key) == tier
    return {policy: same[policy] / n for policy, n in total.items()}


def compare(
    simulated: Sequence[dict[str, Any]],
    live: Sequence[dict[str, Any]],
    same_tier: dict[str, float],
) -> list[dict[str, Any]]:
    """Long-form rows (policy, metric, simulated, live, ratio) for every policy of the live
    run, from both runs' summary rows; the same-tier share first (its simulated value is 1)."""
    by_policy = {row["policy"]: row for row in simulated}
    rows: list[dict[str, Any]] = []
    for row in live:
        policy = row["policy"]
        sim = by_policy.get(policy)
        if sim is None or policy not in same_tier:
            continue  # a bound row: not a run
        rows.append(_row(policy, SAME_TIER, 1.0, same_tier[policy]))
        rows += [_row(policy, metric, sim[metric], row[metric]) for metric in COMPARED]
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([cell(row[column]) for column in COLUMNS])


def _row(policy: str, metric: str, simulated: float, live: float) -> dict[str, Any]:
    ratio = live / simulated if simulated and math.isfinite(simulated) else None
    return {
        "policy": policy,
        "metric": metric,
        "simulated": simulated,
        "live": live,
        "ratio": ratio,
    }
