"""PNG plots of a run, drawn from the summaries (histograms and counters), never from the records.

- latency_cdf.png: end-to-end latency CDF per policy over all requests (log scale), drops
  shown as the gap below 1, SLOs marked and labelled;
- energy_vs_slo.png: joules per request against SLO attainment, one point per policy, with the
  lower bound's curve (fleetsim.bound, at each policy's attainment and drops) and the offline
  feasible schedule: the distance from a point down to the curve is the most a better policy
  could still save at that attainment, the feasible point what a clairvoyant one did save;
- tier_mix.png: where each policy served its requests (shares, dropped included);
- load_over_time.png: requests per second arriving, and served on each tier, per policy;
- energy_vs_quality (drawn by `edgetier bench quality` and `sim sweep`): joules per request
  against quality_vs_requested, one series per policy through its settings.

Every policy stays visible when results coincide: identical series are drawn once and labelled
with every name ("energy-aware = energy-marginal"), points are labelled directly, and series
get distinct colours, dashes and markers (`series_style`). matplotlib's object API (Figure, no
pyplot): no global state, no display needed.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fleetsim.summary import PolicyStats
from npu_sim.hardware import TIERS

TIER_COLOURS = {"device": "#4c9f70", "edge": "#e0a030", "cloud": "#4a78c2", "dropped": "#c44e52"}
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def series_style(index: int, count: int = 1) -> dict[str, object]:
    """A colour, dashes, width and marker for the `index`-th of `count` series, distinct for 40
    series: the ten default colours, then tab20's twenty; every other series dashed; earlier
    series drawn wider, so a later one lying on top of an earlier one leaves its edges visible."""
    colour = f"C{index}" if index < 10 else colormaps["tab20"]((index - 10) % 20)
    return {
        "color": colour,
        "linestyle": LINESTYLES[(index + index // 10) % len(LINESTYLES)],
        "linewidth": 1.0 + 2.5 * (count - index) / max(count, 1),
        "marker": MARKERS[index % len(MARKERS)],
    }


def same_groups(keys: Sequence[object]) -> list[list[int]]:
    """Indices grouped by equal keys, in first-seen order: series that would hide each other
    are drawn once and labelled with every name ("a = b")."""
    groups: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def latency_cdf(path: Path, stats: Sequence[PolicyStats], slos: Sequence[float]) -> Path:
    """Fraction of ALL requests answered within x seconds: a curve that stops short of 1 shows
    the requests dropped or still unserved (named in the legend)."""
    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    items = list(stats)
    curves = []
    for item in items:
        edges, fraction = item.latency.cdf()
        served = item.requests - item.dropped
        curves.append((edges, fraction * served / max(item.requests, 1)))
    keys = [(tuple(e.round(9)), tuple(f.round(9))) for e, f in curves]
    lowest, highest = math.inf, 0.0
    groups = same_groups(keys)
    for n, group in enumerate(groups):
        edges, fraction = curves[group[0]]
        names = " = ".join(items[i].policy for i in group)
        dropped = items[group[0]].dropped / max(items[group[0]].requests, 1)
        label = names + (f" ({dropped:.1%} dropped)" if dropped else "")
        style = series_style(n, len(groups))
        if edges.size:
            ax.step(
                np.concatenate(([edges[0] / 1.25], edges)),
                np.concatenate(([0.0], fraction)),
                where="post",
                color=style["color"],
                linestyle=style["linestyle"],
                linewidth=style["linewidth"],
                label=label,
            )
            lowest, highest = min(lowest, edges[0] / 1.25), max(highest, edges[-1])
    for slo in sorted(set(slos)):
        ax.axvline(slo, color="grey", linewidth=0.9, linestyle=":")
        ax.annotate(
            f"SLO {slo:g} s",
            (slo, 0.02),
            rotation=90,
            fontsize="x-small",
            color="dimgrey",
            xytext=(3, 0),
            textcoords="offset points",
        )
        lowest, highest = min(lowest, slo / 1.5), max(highest, slo * 1.5)
    ax.set_xscale("log")
    if math.isfinite(lowest):
        ax.set_xlim(lowest, highest * 1.1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("end-to-end latency (s)")
    ax.set_ylabel("fraction of all requests answered within it")
    ax.set_title("Latency CDF per policy (a curve below 1 at the right: requests dropped)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.subplots_adjust(right=0.66)
    return _save(fig, path)


def label_points(ax: Axes, points: Sequence[tuple[float, float, str]]) -> None:
    """Scatter named points so that none hides another: points that coincide (to 0.1% in both
    coordinates) become one marker named with every policy; each marker gets a number beside
    it (the legend says whose), and earlier markers are drawn larger, so a marker on top of a
    neighbour leaves a ring of it visible."""
    keys = [(round(x, 3), float(f"{y:.3g}")) for x, y, _ in points]
    groups = same_groups(keys)
    for n, group in enumerate(groups):
        x, y, _ = points[group[0]]
        style = series_style(n)
        names = " = ".join(points[i][2] for i in group)
        size = 40 + 90 * (len(groups) - n) / len(groups)
        ax.scatter(
            x,
            y,
            s=size,
            zorder=3 + n,
            color=style["color"],
            marker=style["marker"],
            edgecolors="white",
            linewidths=0.6,
            label=f"{n + 1}: {names}",
        )
        angle = 2 * math.pi * n / 8 + math.pi / 8  # eight directions, in turn
        ax.annotate(
            str(n + 1),
            (x, y),
            xytext=(14 * math.cos(angle), 14 * math.sin(angle)),
            textcoords="offset points",
            fontsize="x-small",
            ha="center",
            va="center",
            zorder=50,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": style["color"], "lw": 0.6},
        )


def energy_vs_slo(
    path: Path,
    stats: Sequence[PolicyStats],
    bound: Sequence[tuple[float, float]],
    feasible: PolicyStats | None = None,
) -> Path:
    """Joules per request against attainment: the policies, the lower bound's curve through
    `bound` ((attainment, J) points) and the offline feasible schedule's run."""
    fig = Figure(figsize=(10, 5.5))
    ax = fig.subplots()
    if bound:
        xs, ys = zip(*bound, strict=True)
        ax.plot(
            xs,
            ys,
            color="black",
            linewidth=1.2,
            marker="_",
            markersize=14,
            label="lower bound, requested model answering, at a policy's attainment",
        )
    label_points(ax, [(item.attainment, item.joules_per_request, item.policy) for item in stats])
    if feasible is not None:
        ax.scatter(
            feasible.attainment,
            feasible.joules_per_request,
            marker="*",
            s=160,
            color="black",
            zorder=60,
            label="offline feasible schedule (a real run)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("SLO attainment")
    ax.set_ylabel("joules per request (log)")
    ax.set_title("Energy against SLO attainment (down and right is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.subplots_adjust(right=0.68)
    return _save(fig, path)


def tier_mix(path: Path, stats: Sequence[PolicyStats]) -> Path:
    fig = Figure(figsize=(8, 0.6 * len(stats) + 1.6))
    ax = fig.subplots()
    names = [item.policy for item in stats]
    left = np.zeros(len(stats))
    for i, tier in enumerate([*TIERS, "dropped"]):
        shares = np.array([item.tiers[i] / max(item.requests, 1) for item in stats])
        ax.barh(names, shares, left=left, color=TIER_COLOURS[tier], label=tier)
        left += shares
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of requests")
    ax.set_title("Where requests were served")
    ax.legend(ncol=4, fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.08))
    return _save(fig, path)


def load_over_time(path: Path, stats: Sequence[PolicyStats]) -> Path:
    fig = Figure(figsize=(9, 8))
    axes = fig.subplots(len(TIERS) + 1, 1, sharex=True)
    if not stats:
        return _save(fig, path)
    first = stats[0]
    bin_s = first.bin_s
    t = (np.arange(first.load.shape[0]) + 0.5) * bin_s
    axes[0].plot(t, first.load.sum(axis=1) / bin_s, color="black")
    axes[0].set_ylabel("arriving /s")
    axes[0].set_title("Load over time (by arrival time)")
    keys = [tuple(item.load.ravel().tolist()) for item in stats]
    groups = same_groups(keys)
    for i, tier in enumerate(TIERS):
        ax = axes[i + 1]
        for n, group in enumerate(groups):
            item = stats[group[0]]
            style = series_style(n, len(groups))
            ax.plot(
                t,
                item.load[:, i] / bin_s,
                label=" = ".join(stats[j].policy for j in group),
                linewidth=style["linewidth"],
                color=style["color"],
                linestyle=style["linestyle"],
            )
        ax.set_ylabel(f"{tier} /s")
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize="x-small", ncol=2)
    axes[-1].set_xlabel("virtual time (s)")
    return _save(fig, path)


def energy_vs_quality(
    path: Path, curves: Mapping[str, Sequence[tuple[float, float]]], title: str
) -> Path:
    """Joules per request against quality_vs_requested, one series per policy: a point per
    setting it ran with (`curves`: policy -> (quality, joules) points), joined in order of
    quality when there are several (a cascade's thresholds, a router's targets trace its
    energy-quality curve). Down and right is better; 1.0 is the requested models' quality."""
    fig = Figure(figsize=(10, 5.5))
    ax = fig.subplots()
    markers = "osD^vP*Xh<>"
    for i, (policy, points) in enumerate(_merge_coinciding(curves).items()):
        ordered = sorted(points)
        ax.plot(
            [q for q, _ in ordered],
            [j for _, j in ordered],
            marker=markers[i % len(markers)],
            linestyle="-" if len(ordered) > 1 else "none",
            markersize=7,
            label=policy,
        )
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("quality_vs_requested (answers' P(correct) over the requested models')")
    ax.set_ylabel("joules per request")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.subplots_adjust(right=0.7)
    return _save(fig, path)


def _merge_coinciding(
    curves: Mapping[str, Sequence[tuple[float, float]]],
) -> dict[str, Sequence[tuple[float, float]]]:
    """Policies that land on one point (every policy answering with the requested model, on a
    fleet where they place alike) as one series named after all of them, so none hides
    another."""
    merged: dict[tuple[str, ...], list[str]] = {}
    for policy, points in curves.items():
        key = tuple(sorted(f"{q:.3f} {j:.3g}" for q, j in points))  # equal as printed
        merged.setdefault(key, []).append(policy)
    return {textwrap.fill(", ".join(names), 32): curves[names[0]] for names in merged.values()}


def write_all(
    out_dir: Path,
    stats: Sequence[PolicyStats],
    bound: Sequence[tuple[float, float]],
    feasible: PolicyStats | None,
    slos: Sequence[float],
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [*stats, *([feasible] if feasible is not None else [])]
    return [
        latency_cdf(out_dir / "latency_cdf.png", runs, slos),
        energy_vs_slo(out_dir / "energy_vs_slo.png", stats, bound, feasible),
        tier_mix(out_dir / "tier_mix.png", runs),
        load_over_time(out_dir / "load_over_time.png", stats),
    ]
