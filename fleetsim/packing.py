"""Placing decode runs on a node that batches so that they overlap: fewer, fuller steps.

On a GPU a request, once in the batch, takes one token per step until it is done, so it holds
a lane for a contiguous run; a step costs nearly the same with one request as with thirty-two
(weights are read once per step), so the energy of a node's decoding is about the number of
steps it takes: the length of the union of its runs. Choosing when each run starts, within its
window, to make that union short is busy-time minimisation with flexible jobs and bounded
parallelism (Khandekar, Schieber, Shachnai and Tamir, "Real-time scheduling to minimize
machine busy times", J. Scheduling 2015). The greedy used here is theirs in spirit: longest
runs first, each where it overlaps the runs already placed the most (ties: as late as its
window allows, so that later arrivals can join), never more than `max_batch` at once; a run
of another model may not overlap (a GPU decodes one model at a time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class Occupancy:
    """How many runs of one model hold a lane at each time: a step function."""

    def __init__(self) -> None:
        self.times = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)  # on [times[k], times[k + 1])
        self._covered = np.zeros(0)  # time covered by some run, up to times[k]

    def overlap(self, starts: np.ndarray, length: float) -> np.ndarray:
        """Time covered by runs within [s, s + length), for each s in `starts`."""
        if len(self.times) < 2:
            return np.zeros(len(starts))
        return np.interp(starts + length, self.times, self._covered) - np.interp(
            starts, self.times, self._covered
        )

    def peak(self, start: float, end: float) -> int:
        """Most runs at once within [start, end)."""
        first = max(0, int(np.searchsorted(self.times, start, side="right")) - 1)
        last = int(np.searchsorted(self.times, end, side="left"))
        held = self.counts[first:last]
        return int(held.max()) if len(held) else 0

    def breakpoints(self, low: float, high: float) -> np.ndarray:
        a = int(np.searchsorted(self.times, low, side="left"))
        b = int(np.searchsorted(self.times, high, side="right"))
        return self.times[a:b]

    def add(self, start: float, end: float) -> None:
        self._split(start)
        self._split(end)
        a = int(np.searchsorted(self.times, start))
        b = int(np.searchsorted(self.times, end))
        self.counts[a:b] += 1
        widths = np.diff(self.times) * (self.counts > 0)
        self._covered = np.concatenate(([0.0], np.cumsum(widths)))

    def _split(self, t: float) -> None:
        """Make `t` a breakpoint (the segment it falls in keeps its count on both sides)."""
        k = int(np.searchsorted(self.times, t))
        if k < len(self.times) and self.times[k] == t:
            return
        if len(self.times):
            held = self.counts[k - 1] if 0 < k < len(self.times) else 0
            self.counts = np.insert(self.counts, min(k, len(self.counts)), held)
        self.times = np.insert(self.times, k, t)


@dataclass(eq=False)
class Run:
    """A request's decode run: its length, the window its start must lie in, its model."""

    length: float
    earliest: float
    latest: float
    model: str
    start: float = math.nan


def pack(runs: list[Run], max_batch: int, order: list[int]) -> None:
    """Set every run's start (see the module's docstring); runs are placed in `order`."""
    lanes: dict[str, Occupancy] = {}
    for run in runs:
        lanes.setdefault(run.model, Occupancy())
    for i in order:
        run = runs[i]
        mine = lanes[run.model]
        low, high = run.earliest, max(run.earliest, run.latest)
        near = mine.breakpoints(low - run.length, high + run.length)
        starts = np.unique(
            np.clip(np.concatenate((near, near - run.length, [low, high])), low, high)
        )
        gain = mine.overlap(starts, run.length)
        clash = sum(
            (other.overlap(starts, run.length) for m, other in lanes.items() if m != run.model),
            np.zeros(len(starts)),
        )
        best = None
        for k in np.lexsort((-starts, -gain, clash)).tolist():  # no clash, most gain, latest
            if mine.peak(starts[k], starts[k] + run.length) < max_batch:
                best = float(starts[k])
                break
        if best is None:  # every choice is full: the least crowded
            crowd = [mine.peak(s, s + run.length) for s in starts.tolist()]
            best = float(starts[int(np.argmin(crowd))])
        run.start = best
        mine.add(best, best + run.length)
