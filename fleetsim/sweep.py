"""Parameter sweeps: a scenario run over a grid of overrides and seeds, locally or on Ray.

    edgetier sim sweep scenarios/tiny.yaml --param topology.dev.nodes=3,6 \\
        --param slo_scale=0.5,1,2 --param policy=device-first,energy-aware --seeds 3

Each `--param PATH=v1,v2,...` sets a dotted path of the scenario file (values parsed as YAML
scalars) before validation, so a bad value fails like a bad file; `policy` picks the policies
instead, and `policy.[POLICY.]KEY` sets an option of the chosen policies, as `--policy-option`
does (`--param policy=cascade --param policy.threshold=0.2,0.5,0.8` traces the cascade's
energy-quality curve; with several policies chosen, `policy.cascade.threshold` says which one
it is for, and the others run once). Every grid point x seed is one independent run
(fleetsim.runner, no records, no plots):
run one after another here, or as Ray remote tasks (`ray_address`: "local" starts a local
Ray, anything else is passed to ray.init(address=...)). The rows of all runs, bound rows
included, go to one table (sweep.csv) with the parameters and seed as leading columns (policy
options are in the policy's label), sweep.png plots attainment and joules per request against
the first parameter, and quality.png joules per request against quality_vs_requested, one curve
per policy through its settings.

A run gets the scenario's YAML text, not its path, so a Ray worker on another machine needs
only EdgeTier installed (and a trace that is shipped, or at the same path).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetsim.runner import run_scenario
from fleetsim.scenario import apply_overrides, parse_scenario
from fleetsim.summary import COLUMNS, cell
from routing.specs import PolicyError, PolicySpec, with_cli_options

POLICY_PARAMS = ("policy", "policies")
#: `policy.[POLICY.]KEY`: an option of the chosen policies.
OPTION_PREFIX = "policy."


@dataclass(frozen=True)
class Param:
    path: str
    values: list[Any]


def parse_param(text: str) -> Param:
    """`path=v1,v2,...` (values read as YAML scalars: 3 -> int, 0.5 -> float, x -> str)."""
    path, sep, values = text.partition("=")
    if not sep or not path.strip() or not values.strip():
        raise ValueError(f"--param {text!r}: expected PATH=VALUE[,VALUE...]")
    return Param(path.strip(), [yaml.safe_load(v.strip()) for v in values.split(",")])


@dataclass(frozen=True)
class Point:
    """One run of the grid."""

    overrides: dict[str, Any]
    policies: list[PolicySpec] | None
    seed: int


@dataclass
class Sweep:
    scenario_text: str
    scenario_path: str
    params: list[Param]
    seeds: list[int]
    points: list[Point] = field(default_factory=list)
    catalogs: list[str] = field(default_factory=list)  # --catalog files, absolute

    @property
    def columns(self) -> list[str]:
        names = [p.path for p in self.params if _is_grid(p)]
        return [*names, "seed", *COLUMNS]


def _is_grid(param: Param) -> bool:
    """A scenario path (not a policy choice nor a policy option)."""
    return param.path not in POLICY_PARAMS and not param.path.startswith(OPTION_PREFIX)


def _with_options(
    specs: list[PolicySpec], options: list[Param], values: tuple[Any, ...]
) -> list[PolicySpec]:
    """`specs` with one value of each option param applied to the policies it names (all of
    them without a name: routing.specs.with_cli_options's rule)."""
    chosen = [spec.ref for spec in specs]
    texts = []
    for param, value in zip(options, values, strict=True):
        target, _, _ = param.path.removeprefix(OPTION_PREFIX).rpartition(".")
        if target and target not in chosen:
            continue  # an option of a policy this point does not run
        texts.append(f"{param.path.removeprefix(OPTION_PREFIX)}={value}")
    return with_cli_options(specs, texts)


def plan(
    scenario_path: Path, params: list[Param], seeds: int = 1, catalogs: Sequence[Path] = ()
) -> Sweep:
    """The grid, with every point validated here (errors name the file and field)."""
    text = scenario_path.read_text(encoding="utf-8")
    base = yaml.safe_load(text)
    first_seed = base.get("seed", 0) if isinstance(base, dict) else 0
    seed_list = [int(first_seed) + i for i in range(seeds)]
    sweep = Sweep(
        text, str(scenario_path), params, seed_list, catalogs=[str(c.resolve()) for c in catalogs]
    )
    policy_values: list[list[PolicySpec] | None] = [None]
    grid = [p for p in params if _is_grid(p)]
    options = [p for p in params if p.path.startswith(OPTION_PREFIX)]
    for p in params:
        if p.path in POLICY_PARAMS:
            policy_values = [[PolicySpec(str(v))] for v in p.values]
            for (spec,) in policy_values:
                spec.build()  # a bad name or path fails here, not on a worker
    if options:
        scenario_policies = _load(text, str(scenario_path), {}, sweep.catalogs).policies
        variants: list[list[PolicySpec] | None] = []
        for policies in policy_values:
            for values in itertools.product(*(p.values for p in options)):
                specs = _with_options(policies or list(scenario_policies), options, values)
                if specs not in variants:
                    variants.append(specs)
                    for spec in specs:
                        spec.build()  # a bad option fails here, not on a worker
        policy_values = variants
        for param in options:
            target = param.path.removeprefix(OPTION_PREFIX).rpartition(".")[0]
            if target and not any(
                target == spec.ref for specs in variants if specs for spec in specs
            ):
                raise PolicyError(f"--param {param.path}: no chosen policy {target!r}")
    for combo in itertools.product(*(p.values for p in grid)):
        overrides = {p.path: v for p, v in zip(grid, combo, strict=True)}
        _load(text, str(scenario_path), overrides, sweep.catalogs)  # now, not on a worker
        for policies in policy_values:
            for seed in seed_list:
                sweep.points.append(Point(overrides, policies, seed))
    return sweep


def _load(text: str, path: str, overrides: dict[str, Any], catalogs: list[str]) -> Any:
    data = yaml.safe_load(text)
    node = yaml.compose(text)
    extra = [Path(file) for file in catalogs]
    return parse_scenario(apply_overrides(data, overrides), Path(path), node, extra_catalogs=extra)


def run_point(text: str, path: str, point: Point, catalogs: list[str]) -> list[dict[str, Any]]:
    """One grid point: the summary rows of its run, with the parameters and seed in front."""
    scenario = _load(text, path, point.overrides, catalogs)
    result = run_scenario(scenario, None, point.policies, point.seed, plots=False, records=False)
    return [{**point.overrides, "seed": point.seed, **row} for row in result.rows]


def run_local(sweep: Sweep, progress: Callable[[int], None] | None = None) -> list[dict]:
    rows: list[dict[str, Any]] = []
    for point in sweep.points:
        rows += run_point(sweep.scenario_text, sweep.scenario_path, point, sweep.catalogs)
        if progress is not None:
            progress(1)
    return rows


def run_ray(
    sweep: Sweep, address: str = "local", progress: Callable[[int], None] | None = None
) -> list[dict]:
    """Every point as a Ray remote task; uses a Ray already initialised by the caller, else
    starts one (local) or connects (address) and shuts it down after."""
    import ray

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(address="local", include_dashboard=False)
        else:
            ray.init(address=address)
        started = True
    try:
        task = ray.remote(run_point)
        pending = {
            task.remote(sweep.scenario_text, sweep.scenario_path, point, sweep.catalogs): i
            for i, point in enumerate(sweep.points)
        }
        results: dict[int, list[dict[str, Any]]] = {}
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                results[pending[ref]] = ray.get(ref)
                if progress is not None:
                    progress(1)
        return [row for i in range(len(sweep.points)) for row in results[i]]
    finally:
        if started:
            ray.shutdown()


def write_table(path: Path, sweep: Sweep, rows: list[dict[str, Any]]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(sweep.columns)
        for row in rows:
            writer.writerow([cell(row.get(column)) for column in sweep.columns])
    return path


def plot(path: Path, sweep: Sweep, rows: list[dict[str, Any]]) -> Path:
    """Attainment and joules per request against the first parameter, one line per policy
    (and per value of the other parameters), averaged over seeds."""
    from matplotlib.figure import Figure

    from fleetsim.plots import same_groups, series_style

    grid = [p.path for p in sweep.params if _is_grid(p)]
    x_name = grid[0] if grid else "seed"
    others = grid[1:]
    series: dict[str, dict[Any, list[tuple[float, float]]]] = {}
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        label = row["policy"] + "".join(f", {k}={row[k]}" for k in others)
        # A reference row (the bounds) comes with every policy's run of a point: keep one.
        key = (label, row[x_name], row["seed"])
        if key in seen:
            continue
        seen.add(key)
        series.setdefault(label, {}).setdefault(row[x_name], []).append(
            (row["slo_attainment"], row["joules_per_request"])
        )
    fig = Figure(figsize=(11, 7))
    top, bottom = fig.subplots(2, 1, sharex=True)
    xs = list(dict.fromkeys(row[x_name] for row in rows))
    numeric = all(isinstance(x, int | float) for x in xs)
    lines: dict[str, tuple[list[Any], list[float], list[float]]] = {}
    for label, points in series.items():
        keys = [x for x in xs if x in points]
        attainment = [sum(p[0] for p in points[x]) / len(points[x]) for x in keys]
        joules = [sum(p[1] for p in points[x]) / len(points[x]) for x in keys]
        lines[label] = (keys, attainment, joules)
    labels = list(lines)
    groups = same_groups(
        [
            (tuple(map(str, keys)), tuple(round(v, 6) for v in (*attainment, *joules)))
            for keys, attainment, joules in lines.values()
        ]
    )
    for n, group in enumerate(groups):  # identical series drawn once, named with every label
        keys, attainment, joules = lines[labels[group[0]]]
        at = keys if numeric else [xs.index(x) for x in keys]
        style = series_style(n, len(groups))
        label = " = ".join(labels[i] for i in group)
        size = 4 + 4 * (len(groups) - n) / len(groups)
        for ax, values in ((top, attainment), (bottom, joules)):
            ax.plot(at, values, label=label, markersize=size, **style)
    if not numeric:
        bottom.set_xticks(range(len(xs)), [str(x) for x in xs])
    top.set_ylabel("SLO attainment")
    bottom.set_ylabel("joules per request")
    bottom.set_xlabel(x_name)
    top.set_title(f"Sweep over {x_name} (mean of {len(sweep.seeds)} seed(s))")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    top.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_quality(path: Path, sweep: Sweep, rows: list[dict[str, Any]]) -> Path:
    """Joules per request against quality_vs_requested, one curve per policy through its
    settings (and the other parameters' values), averaged over seeds (fleetsim.plots)."""
    from fleetsim import plots

    others = [p.path for p in sweep.params if _is_grid(p)]
    points: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in rows:
        if row.get("quality_vs_requested") is None:
            continue  # the bound rows, and policies that answered no LLM request
        curve = row["policy"].split("(")[0] + "".join(f", {k}={row[k]}" for k in others)
        points.setdefault(curve, {}).setdefault(row["policy"], []).append(
            (row["quality_vs_requested"], row["joules_per_request"])
        )
    curves = {
        curve: [
            (sum(q for q, _ in runs) / len(runs), sum(j for _, j in runs) / len(runs))
            for runs in settings.values()
        ]
        for curve, settings in points.items()
    }
    title = f"Energy against answer quality (mean of {len(sweep.seeds)} seed(s))"
    return plots.energy_vs_quality(path, curves, title)


__all__ = [
    "Param",
    "Point",
    "Sweep",
    "parse_param",
    "plan",
    "plot_quality",
    "run_local",
    "run_ray",
]
