"""The lower bound: the least energy any schedule can spend meeting k SLOs with d drops.

A linear program over the requests' options (fleetsim.options), solved by HiGHS
(`scipy.optimize.linprog(method="highs")`). Its variables:

- per option o of request r: x_o, the part of r served there within its SLO, and y_o, the
  part served there late (only for requests with an SLO); per request, drop_r, the part not
  served: sum_o (x_o + y_o) + drop_r = 1;
- per pool that batches, model m and time slot t: S, the decode steps of m starting on the
  pool's nodes in t, and per (pool, model) the total steps Stot and decoded tokens T.

Constraints, each true of every run the simulator can make (so every run is a feasible point and
the optimum is a lower bound; see "why" below):

1. SLOs and drops: sum_o x_o >= k, sum_r drop_r <= d.
2. A request met on a batching pool decodes its `tokens` in steps that start within its window
   [its prefill's end at the earliest, its deadline], one token per step:
   sum over the window's slots of S >= tokens * x_o. This is what keeps batches honest: a step
   can only hold requests present at that time within their own windows.
3. A batch holds at most max_batch requests: T <= max_batch * Stot, with T = sum tokens * (x + y)
   and Stot >= the steps in the slots.
4. Steps take time: on a pool of N nodes, sum over its models of (floor step time) * S <= N *
   (the slot's up time + a step per up stretch) per slot; a pool that is down runs nothing.
5. A pool that does not batch serves its requests one at a time per node: for an interval
   [t1, t2], the work of the requests met there whose windows lie inside fits in N * (up time
   of [t1, t2]). These are added as cuts, only where the solution breaks one (as many rounds as
   `cut_rounds`); each is valid, so the bound holds whichever were added.

Objective: sum_o fixed_j (x + y) + per (pool, model) the largest of alpha * Stot + beta * T over
the lower convex hull lines of the decode floor (options.DecodeFloor, options.hull_lines).

Why it is a bound on attributed energy. Take any run meeting k SLOs and dropping at most d
requests, and set x, y, drop, S from it (integral). Each request pays its prefill or whole
service as the engine charges it, its network, and its share of each decode step it was in; the
requests of a step together pay the step's whole energy E(b, C) >= h(b) + kappa * C (the floor),
and h(b) >= alpha + beta * b for every hull line; summing over steps, the kappa parts give each
request's own KV term (in fixed_j) and the rest is >= alpha * Stot + beta * T. So the run's
attributed energy is at least the objective at its point, and the LP optimum is at most that.
The bound is on runs where every node attempt is answered: an attempt the router gives up on
(timeout) or an outage kills keeps its share of the steps it was in, charged to no request.

Solving for each (k, d) a policy reached costs one solve each; the cuts found at the first
solve are kept for the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from fleetsim.options import Options, hull_lines

#: Slots per SLO window on a batching pool: finer makes the bound tighter and the program larger.
SLOTS_PER_WINDOW = 12
MAX_SLOTS = 20_000
#: Rounds of capacity cuts on pools that do not batch, and cuts added per round at most.
CUT_ROUNDS = 6
CUTS_PER_ROUND = 4_000
#: A cut is added when the work it bounds is over capacity by more than this (seconds).
CUT_SLACK_S = 1e-6


@dataclass
class Relaxation:
    """An optimal point of the program: the bound, and how its plan serves the requests."""

    met: int
    dropped: int
    joules: float  # total, attributed to requests
    x: np.ndarray  # per option: served within its SLO
    y: np.ndarray  # per option: served late
    drop: np.ndarray  # per request
    steps: dict[tuple[int, str], float]  # (pool, model) -> decode steps
    tokens: dict[tuple[int, str], float]
    #: The optimum's dual prices of the SLO count (joules per SLO more, <= 0 as HiGHS signs
    #: the sensitivity of a <= row) and of the drop allowance (joules per drop more, <= 0).
    met_price: float = 0.0
    drop_price: float = 0.0


class _Rows:
    """Sparse rows of constraints, built in chunks: (rows numbered from 0 within the chunk,
    columns, values, one right-hand side per row)."""

    def __init__(self) -> None:
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def count(self) -> int:
        return sum(len(rhs) for *_, rhs in self.chunks)

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, rhs: np.ndarray) -> None:
        self.chunks.append(
            (
                np.asarray(rows, dtype=np.int64),
                np.asarray(cols, dtype=np.int64),
                np.asarray(vals, dtype=float),
                np.atleast_1d(np.asarray(rhs, dtype=float)),
            )
        )

    def matrix(self, columns: int, *more: _Rows) -> tuple[sp.csr_matrix, np.ndarray]:
        """These rows and `more`'s, as one matrix and right-hand side."""
        chunks = [chunk for part in (self, *more) for chunk in part.chunks]
        if not chunks:
            return sp.csr_matrix((0, columns)), np.zeros(0)
        offsets = np.cumsum([0] + [len(rhs) for *_, rhs in chunks])
        matrix = sp.coo_matrix(
            (
                np.concatenate([vals for _, _, vals, _ in chunks]),
                (
                    np.concatenate([rows + offsets[i] for i, (rows, *_) in enumerate(chunks)]),
                    np.concatenate([cols for _, cols, _, _ in chunks]),
                ),
            ),
            shape=(int(offsets[-1]), columns),
        ).tocsr()
        return matrix, np.concatenate([rhs for *_, rhs in chunks])


class LowerBound:
    """The program for one scenario's requests; `solve(k, d)` for any k, d."""

    def __init__(
        self,
        options: Options,
        slots_per_window: int = SLOTS_PER_WINDOW,
        cut_rounds: int = CUT_ROUNDS,
    ) -> None:
        self.options = options
        self.cut_rounds = cut_rounds
        o = options
        self.requests = o.requests
        has_slo = np.isfinite(o.slo)
        self.x_options = np.flatnonzero(o.meets)
        self.y_options = np.flatnonzero(has_slo[o.request])
        self.max_met = len(np.unique(o.request[self.x_options]))
        nx, ny, n = len(self.x_options), len(self.y_options), o.requests
        self.x0, self.y0, self.drop0 = 0, nx, nx + ny
        column = nx + ny + n
        # Batching resources (pool, model) and their slots.
        batching = o.tokens > 0
        keys = sorted({(int(o.pool[i]), o.model[i]) for i in np.flatnonzero(batching)})
        self.resources = keys
        resource_of = {key: r for r, key in enumerate(keys)}
        self.option_resource = np.full(len(o.request), -1, dtype=np.int64)
        for i in np.flatnonzero(batching):
            self.option_resource[i] = resource_of[(int(o.pool[i]), o.model[i])]
        met_batching = self.x_options[batching[self.x_options]]
        self.grid: dict[int, tuple[float, float, int]] = {}  # pool -> (begin, slot_s, slots)
        for pool in sorted({p for p, _ in keys}):
            mine = met_batching[o.pool[met_batching] == pool]
            if not len(mine):
                continue
            begin, end = float(o.start[mine].min()), float(o.deadline[mine].max())
            # The SLO windows (an outage may cut a few short: they do not set the grid).
            window = float(np.median(o.deadline[mine] - o.start[mine]))
            slot = max(window / slots_per_window, (end - begin) / MAX_SLOTS, 1e-3)
            self.grid[pool] = (begin, slot, math.floor((end - begin) / slot) + 1)
        self.s0: list[int] = []
        for pool, _ in keys:
            self.s0.append(column)
            column += self.grid[pool][2] if pool in self.grid else 0
        self.stot0 = column
        self.t0 = column + len(keys)
        column += 2 * len(keys)
        self.lines = []
        for pool, model in keys:
            self.lines.append(hull_lines(o.floors[(pool, model)].h))
        self.e0 = column
        column += len(keys)
        self.columns = column
        self._static_ub, self._static_eq = self._static_rows()
        self.cuts = _Rows()
        self._cut_keys: set[tuple[int, float, float]] = set()
        self.bounds = self._bounds()
        self._solved: dict[tuple[int, int], Relaxation | None] = {}

    # -- the program -----------------------------------------------------------------------

    def _x_col(self, options: np.ndarray) -> np.ndarray:
        """Columns of x for these options (all of which can meet their SLO)."""
        return self.x0 + np.searchsorted(self.x_options, options)

    def _static_rows(self) -> tuple[_Rows, _Rows]:
        o = self.options
        ub, eq = _Rows(), _Rows()
        nx, ny = len(self.x_options), len(self.y_options)
        # Assignment: sum x + sum y + drop = 1.
        n = o.requests
        eq.add(
            np.concatenate([o.request[self.x_options], o.request[self.y_options], np.arange(n)]),
            np.concatenate(
                [self.x0 + np.arange(nx), self.y0 + np.arange(ny), self.drop0 + np.arange(n)]
            ),
            np.ones(nx + ny + n),
            np.ones(n),
        )
        # Tokens: T - sum tokens * (x + y) = 0, per resource.
        resources = len(self.resources)
        if resources:
            xr = self.option_resource[self.x_options]
            yr = self.option_resource[self.y_options]
            xs, ys = np.flatnonzero(xr >= 0), np.flatnonzero(yr >= 0)
            eq.add(
                np.concatenate([xr[xs], yr[ys], np.arange(resources)]),
                np.concatenate([self.x0 + xs, self.y0 + ys, self.t0 + np.arange(resources)]),
                np.concatenate(
                    [
                        -o.tokens[self.x_options[xs]],
                        -o.tokens[self.y_options[ys]],
                        np.ones(resources),
                    ]
                ),
                np.zeros(resources),
            )
        # Singletons: tokens * x - sum of S over the window's slots <= 0.
        met = self.x_options[self.option_resource[self.x_options] >= 0]
        if len(met):
            rows, cols, vals = [], [], []
            resource = self.option_resource[met]
            pools = o.pool[met]
            first = np.empty(len(met), dtype=np.int64)
            last = np.empty(len(met), dtype=np.int64)
            base = np.empty(len(met), dtype=np.int64)
            for pool, (begin, slot, slots) in self.grid.items():
                mine = pools == pool
                first[mine] = np.clip(((o.start[met[mine]] - begin) // slot), 0, slots - 1)
                last[mine] = np.clip(((o.deadline[met[mine]] - begin) // slot), 0, slots - 1)
            for r, start in enumerate(self.s0):
                base[resource == r] = start
            width = last - first + 1
            index = np.arange(len(met))
            row_of = np.repeat(index, width)
            offset = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
            rows = [index, row_of]
            cols = [self._x_col(met), np.repeat(base + first, width) + offset]
            vals = [o.tokens[met].astype(float), -np.ones(int(width.sum()))]
            ub.add(
                np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), np.zeros(len(met))
            )
        # Stot >= steps in slots; T <= max_batch * Stot.
        for r, (pool, _) in enumerate(self.resources):
            slots = self.grid[pool][2] if pool in self.grid else 0
            ub.add(
                np.zeros(slots + 1),
                np.concatenate([self.s0[r] + np.arange(slots), [self.stot0 + r]]),
                np.concatenate([np.ones(slots), [-1.0]]),
                np.zeros(1),
            )
            ub.add(
                np.zeros(2),
                np.array([self.t0 + r, self.stot0 + r]),
                np.array([1.0, -float(o.pools[pool].max_batch)]),
                np.zeros(1),
            )
        # Steps take time: per pool and slot.
        for pool, (begin, slot, slots) in self.grid.items():
            members = [r for r, (p, _) in enumerate(self.resources) if p == pool]
            step = {r: o.floors[self.resources[r]].step_s for r in members}
            longest = max(step.values())
            nodes = len(o.pools[pool].nodes)
            capacity = np.empty(slots)
            for t in range(slots):
                lo = begin + t * slot
                up, stretches = _up(o.pools[pool].down, lo, lo + slot)
                capacity[t] = nodes * (up + stretches * longest) if up > 0 else 0.0
            rows = np.concatenate([np.arange(slots) for _ in members])
            cols = np.concatenate([self.s0[r] + np.arange(slots) for r in members])
            vals = np.concatenate([np.full(slots, step[r]) for r in members])
            ub.add(rows, cols, vals, capacity)
        return ub, eq

    def _bounds(self) -> np.ndarray:
        o = self.options
        bounds = np.zeros((self.columns, 2))
        bounds[:, 1] = np.inf
        bounds[: self.drop0 + o.requests, 1] = 1.0
        unservable = np.ones(o.requests, dtype=bool)
        unservable[o.request] = False
        self.unservable = int(unservable.sum())
        bounds[self.drop0 + np.flatnonzero(unservable), 0] = 1.0
        return bounds

    def _objective(self) -> tuple[np.ndarray, _Rows]:
        """Costs, and the hull rows alpha * Stot + beta * T - e <= 0."""
        o = self.options
        fixed = o.fixed_j
        c = np.zeros(self.columns)
        c[self.x0 : self.y0] = fixed[self.x_options]
        c[self.y0 : self.drop0] = fixed[self.y_options]
        rows = _Rows()
        for r, lines in enumerate(self.lines):
            count = len(lines)
            alphas = np.array([a for a, _ in lines])
            betas = np.array([b for _, b in lines])
            rows.add(
                np.repeat(np.arange(count), 3),
                np.tile([self.stot0 + r, self.t0 + r, self.e0 + r], count),
                np.column_stack([alphas, betas, -np.ones(count)]).ravel(),
                np.zeros(count),
            )
            c[self.e0 + r] = 1.0
        return c, rows

    # -- solving ---------------------------------------------------------------------------

    def joules_at(self, met: int, dropped: int = 0) -> float | None:
        """The bound in joules per request: the least any run meeting `met` SLOs with at most
        `dropped` requests unserved can spend (None if no run can meet that many)."""
        relaxation = self.solve(met, dropped)
        if relaxation is None:
            return None
        return relaxation.joules / max(self.requests, 1)

    def tangent_at(self, met: int, dropped: int = 0) -> float | None:
        """A cheaper, looser bound in joules per request, from the programs already solved (at
        least one): the dual solution of a solved program is feasible for the program at any
        (met, dropped), since only right-hand sides change, so by weak duality its objective
        there, the solved optimum moved along its two prices, is below that program's optimum
        (the tightest of these tangents; None if no run can meet that many)."""
        if met > self.max_met:
            return None
        dropped = max(dropped, self.unservable)
        solved = [r for r in self._solved.values() if r is not None]
        assert solved, "solve() the program at some point first"
        best = max(
            r.joules + r.met_price * (r.met - met) + r.drop_price * (dropped - r.dropped)
            for r in solved
        )
        return max(0.0, best) / max(self.requests, 1)

    def solve(self, met: int, dropped: int = 0) -> Relaxation | None:
        """The optimum meeting at least `met` SLOs with at most `dropped` requests unserved
        (None when no schedule can: not even alone on idle nodes). Every run drops the
        requests no pool can serve, so at least those may go unserved. Adds capacity cuts."""
        if met > self.max_met:
            return None
        dropped = max(dropped, self.unservable)
        key = (met, dropped)
        if key in self._solved:
            return self._solved[key]
        for _ in range(self.cut_rounds + 1):
            relaxation = self._solve_once(met, dropped)
            if relaxation is None or not self._add_cuts(relaxation):
                break
        self._solved[key] = relaxation
        return relaxation

    def _solve_once(self, met: int, dropped: int) -> Relaxation | None:
        c, hull = self._objective()
        counts = _Rows()
        nx, n = len(self.x_options), self.options.requests
        counts.add(np.zeros(nx), self.x0 + np.arange(nx), -np.ones(nx), [-float(met)])
        counts.add(np.zeros(n), self.drop0 + np.arange(n), np.ones(n), [float(dropped)])
        a_ub, b_ub = self._static_ub.matrix(self.columns, hull, self.cuts, counts)
        a_eq, b_eq = self._static_eq.matrix(self.columns)
        result = linprog(
            c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=self.bounds, method="highs"
        )
        if result.status == 2:  # infeasible
            return None
        if result.status != 0:
            raise RuntimeError(f"the bound's linear program failed: {result.message}")
        v = result.x
        met_price, drop_price = result.ineqlin.marginals[-2:]
        steps = {key: float(v[self.stot0 + r]) for r, key in enumerate(self.resources)}
        tokens = {key: float(v[self.t0 + r]) for r, key in enumerate(self.resources)}
        ny = len(self.y_options)
        x = np.zeros(len(self.options.request))
        y = np.zeros(len(self.options.request))
        x[self.x_options] = v[self.x0 : self.x0 + nx]
        y[self.y_options] = v[self.y0 : self.y0 + ny]
        return Relaxation(
            met,
            dropped,
            float(result.fun),
            x,
            y,
            v[self.drop0 : self.drop0 + n],
            steps,
            tokens,
            float(met_price),
            float(drop_price),
        )

    def _add_cuts(self, relaxation: Relaxation) -> bool:
        """Capacity cuts (5.) that the relaxation breaks; True if any was added."""
        o = self.options
        batching = o.tokens > 0
        candidates = self.x_options[~batching[self.x_options]]
        found: list[tuple[float, int, float, float, np.ndarray]] = []
        for pool in np.unique(o.pool[candidates]):
            mine = candidates[o.pool[candidates] == pool]
            used = mine[relaxation.x[mine] > 1e-9]
            if len(used) < 2:
                continue
            found += self._violations(int(pool), mine, used, relaxation.x)
        if not found:
            return False
        found.sort(key=lambda item: -item[0])
        for _, pool, lo, hi, inside in found[:CUTS_PER_ROUND]:
            key = (pool, lo, hi)
            if key in self._cut_keys:
                continue
            self._cut_keys.add(key)
            nodes = len(o.pools[pool].nodes)
            up, _ = _up(o.pools[pool].down, lo, hi)
            self.cuts.add(
                np.zeros(len(inside)), self._x_col(inside), o.work_s[inside], [nodes * up]
            )
        return True

    def _violations(
        self, pool: int, options: np.ndarray, used: np.ndarray, x: np.ndarray
    ) -> list[tuple[float, int, float, float, np.ndarray]]:
        """For each start among the used options' windows, the interval [start, deadline]
        whose met work most exceeds the pool's capacity."""
        o = self.options
        nodes = len(o.pools[pool].nodes)
        down = o.pools[pool].down
        order = np.argsort(o.ready[options], kind="stable")
        options = options[order]
        ready, deadline = o.ready[options], o.deadline[options]
        work = o.work_s[options] * x[options]
        span = float((deadline - ready).max()) * 2
        found = []
        for lo in np.unique(o.ready[used]):
            a = int(np.searchsorted(ready, lo, side="left"))
            b = int(np.searchsorted(ready, lo + span, side="right"))
            window = np.arange(a, b)
            ends = deadline[window]
            by_end = np.argsort(ends, kind="stable")
            cumulative = np.cumsum(work[window][by_end])
            his = ends[by_end]
            if down:
                capacity = np.array([_up(down, lo, hi)[0] for hi in his]) * nodes
            else:
                capacity = (his - lo) * nodes
            excess = cumulative - capacity
            best = int(np.argmax(excess))
            if excess[best] > CUT_SLACK_S:
                hi = float(his[best])
                inside = options[window][ends <= hi]
                found.append((float(excess[best]), pool, float(lo), hi, inside))
        return found


def _up(down: tuple[tuple[float, float], ...], lo: float, hi: float) -> tuple[float, int]:
    """Up seconds in [lo, hi) and the number of separate up stretches there."""
    pieces: list[tuple[float, float]] = [(lo, hi)]
    for start, end in down:
        next_pieces = []
        for a, b in pieces:
            if end <= a or start >= b:
                next_pieces.append((a, b))
                continue
            if start > a:
                next_pieces.append((a, start))
            if end < b:
                next_pieces.append((end, b))
        pieces = next_pieces
    return sum(b - a for a, b in pieces), len(pieces)
