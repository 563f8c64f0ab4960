"""Percentiles over millions of values without keeping them: a fixed log-bucket histogram.

Buckets are log-spaced, 100 per decade, from 1 microsecond to 1e6 seconds (1,200 buckets,
9.6 kB of counts). A percentile is reported as the geometric middle of the bucket that holds
it, so its relative error is at most 10**(1/200) - 1 = 1.16%, whatever the number of values;
values outside the range count in the end buckets. Counts are integers, so adding the same
values in the same batches always gives the same histogram and the same percentiles
(summary.csv is byte-identical from run to run). Chosen over a t-digest for that determinism
and because its error bound does not depend on the order values arrive in.
"""

from __future__ import annotations

import numpy as np

LOW_EXP = -6  # 1 microsecond
HIGH_EXP = 6  # 1e6 seconds, eleven and a half days
PER_DECADE = 100
BUCKETS = (HIGH_EXP - LOW_EXP) * PER_DECADE


class LogHistogram:
    """Counts of positive values (seconds) in fixed log-spaced buckets."""

    def __init__(self) -> None:
        self.counts = np.zeros(BUCKETS, dtype=np.int64)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def add(self, values: np.ndarray) -> None:
        """Count a batch of values (NaNs, i.e. no value, are skipped)."""
        values = values[~np.isnan(values)]
        if values.size == 0:
            return
        exponents = np.log10(np.clip(values, 10.0**LOW_EXP, 10.0**HIGH_EXP))
        index = np.floor((exponents - LOW_EXP) * PER_DECADE).astype(np.int64)
        self.counts += np.bincount(np.clip(index, 0, BUCKETS - 1), minlength=BUCKETS)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1): the middle of the bucket holding the ceil(q * n)-th
        smallest value; None when empty."""
        total = self.total
        if total == 0:
            return None
        rank = max(1, int(np.ceil(q * total)))
        bucket = int(np.searchsorted(np.cumsum(self.counts), rank))
        return float(10.0 ** (LOW_EXP + (bucket + 0.5) / PER_DECADE))

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """(upper bucket edges, fraction of values at or below) over the occupied range."""
        cumulative = np.cumsum(self.counts)
        total = cumulative[-1] if cumulative.size else 0
        occupied = np.nonzero(self.counts)[0]
        if total == 0 or occupied.size == 0:
            return np.array([]), np.array([])
        lo, hi = occupied[0], occupied[-1] + 1
        edges = 10.0 ** (LOW_EXP + (np.arange(lo, hi) + 1) / PER_DECADE)
        return edges, cumulative[lo:hi] / total

    def merge(self, other: LogHistogram) -> None:
        self.counts += other.counts
