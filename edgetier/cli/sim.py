"""`edgetier sim`: fleet simulation in virtual time (code in `fleetsim/`).

    edgetier sim run SCENARIO [--out DIR] [--policies a,b,c] [--seed N] [--json]
                     [--live [--time-scale S] [--workers N]]
    edgetier sim sweep SCENARIO --param PATH=v1,v2 [--param ...] [--seeds N] [--ray [ADDRESS]]
        (--param policy=cascade --param policy.threshold=0.2,0.5,0.8: a policy option)
    edgetier sim init | validate FILE | schema      (edgetier.cli.sim_files)

`run` shows a progress bar, writes requests.parquet, summary.csv and PNG plots to DIR (default
results/<scenario name>) and prints the summary; with `--live` it then runs every policy on the
scenario's fleet started live (deploy.live), writes the same files to DIR/live and the
comparison of both runs to DIR/comparison.csv, and prints it. `sweep` runs a grid of
overrides x seeds, locally or as Ray tasks, into one table and one plot. A bad scenario, trace
or parameter exits with status 2 and a message that names the file, field and line.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deploy.live import LIVE_DIR, run_live
from deploy.load import LoadError
from deploy.processes import LaunchError
from edgetier.argtypes import non_negative_float, non_negative_int, positive_int
from edgetier.cli import sim_files
from edgetier.cli.catalogs import add_catalog_argument
from edgetier.cli.output import console, print_json, print_table, progress_console
from edgetier.cli.policies import add_option_argument, policies_from_text
from fleetsim import compare
from fleetsim.runner import ConservationError, RunResult, expected_requests, run_scenario
from fleetsim.scenario import Scenario, load_scenario
from fleetsim.summary import COLUMNS
from fleetsim.workload.trace import TraceError
from npu_sim.datafile import DataFileError
from routing.policies import BUILTINS
from routing.specs import PolicyError, PolicySpec, with_cli_options

SHOWN = [c for c in COLUMNS if c not in ("requests", "served", "ttft_p50_s")]
#: Short headers for the terminal (summary.csv keeps the full names).
HEADERS = {
    "slo_attainment": "SLO met",
    "latency_p50_s": "p50 s",
    "latency_p95_s": "p95 s",
    "latency_p99_s": "p99 s",
    "ttft_p99_s": "TTFT p99 s",
    "joules_per_request": "J/request",
    "device_share": "device",
    "edge_share": "edge",
    "cloud_share": "cloud",
    "joules_vs_bound": "x bound",
    "fleet_energy_j": "fleet J",
    "mean_quality": "quality",
    "quality_vs_requested": "q vs asked",
    "substituted_share": "substituted",
}


def headers(columns: list[str]) -> list[str]:
    return [HEADERS.get(c, c) for c in columns]


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("sim", help="simulate a fleet in virtual time (fleetsim)")
    sub = parser.add_subparsers(dest="sim_command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run every policy of a scenario, write records and plots")
    run.add_argument("scenario", type=Path, help="scenario YAML file (see scenarios/)")
    run.add_argument("--out", type=Path, help="output directory (default results/<name>)")
    run.add_argument(
        "--policies",
        help=f"comma-separated: built-ins ({', '.join(BUILTINS)}) or package.module:Class "
        "paths to Policy subclasses on the Python path (default: the scenario's)",
    )
    add_option_argument(run)
    add_catalog_argument(run)
    run.add_argument("--seed", type=non_negative_int, help="override the scenario's seed")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.add_argument("--json", action="store_true", help="print the summary rows as JSON")
    run.add_argument(
        "--live",
        action="store_true",
        help="then run every policy live too (the scenario's fleet as local processes, a "
        "fresh stack per policy, loaded with the same requests) and compare: DIR/live, "
        "DIR/comparison.csv",
    )
    run.add_argument(
        "--time-scale",
        type=non_negative_float,
        help="with --live: real seconds per modelled second (default 1)",
    )
    run.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="with --live: processes sending the requests (edgetier load --workers)",
    )
    run.set_defaults(handler=_run)

    sweep = sub.add_parser("sweep", help="run a scenario over a grid of parameters and seeds")
    sweep.add_argument("scenario", type=Path)
    sweep.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="PATH=V1,V2",
        help="a dotted scenario path and its values (repeatable); 'policy' picks policies, "
        "'policy.[POLICY.]KEY' sets one of their options",
    )
    add_catalog_argument(sweep)
    sweep.add_argument(
        "--seeds", type=positive_int, default=1, help="seeds per point (from the file's)"
    )
    sweep.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run points as Ray tasks (a local Ray if no address)",
    )
    sweep.add_argument("--out", type=Path, help="output directory (default results/<name>-sweep)")
    sweep.add_argument("--json", action="store_true", help="print the rows as JSON")
    sweep.set_defaults(handler=_sweep)

    sim_files.register(sub)


def _fail(message: str) -> int:
    print(f"edgetier sim: {message}", file=sys.stderr)
    return 2


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=progress_console,
        transient=False,
    )


def _run(args: argparse.Namespace) -> int:
    if not args.live and (args.time_scale is not None or args.workers != 1):
        return _fail("--time-scale and --workers go with --live")
    try:
        scenario = load_scenario(args.scenario, extra_catalogs=args.catalog)
        if args.seed is not None:  # the live replay draws the same requests
            scenario = dataclasses.replace(scenario, seed=args.seed)
        try:
            if args.policies:
                policies = policies_from_text(args.policies, args.policy_option)
            else:
                policies = with_cli_options(scenario.policies, args.policy_option)
            for policy in policies:
                policy.build(scenario.seed)  # every option checked before anything runs
        except PolicyError as exc:
            return _fail(f"--policies: {exc}")
        out = args.out or Path("results") / scenario.name
        total = (expected_requests(scenario) or 0) * len(policies)
        with _progress() as bar:
            task = bar.add_task(f"{scenario.name}: {len(policies)} policies", total=total)
            result = run_scenario(
                scenario,
                out,
                policies,
                args.seed,
                progress=lambda n: bar.advance(task, n),
                plots=not args.no_plots,
            )
            bar.update(task, completed=total)
    except (DataFileError, TraceError, ValueError) as exc:
        return _fail(str(exc))
    except ConservationError as exc:  # pragma: no cover - a bug, said loudly
        return _fail(f"conservation violated: {exc}")
    if not args.json:
        print_table(
            f"{scenario.name} (seed {result.seed}): {result.stats[policies[0].label].requests} "
            "requests",
            headers(SHOWN),
            [[row[c] for c in SHOWN] for row in result.rows],
        )
        console.print(f"wrote {', '.join(str(f) for f in result.files)}")
    if args.live:
        return _live(args, scenario, policies, out, result)
    if args.json:
        print_json({"out": str(out), "rows": result.rows})
    return 0


def _live(
    args: argparse.Namespace,
    scenario: Scenario,
    policies: list[PolicySpec],
    out: Path,
    simulated: RunResult,
) -> int:
    """The live half of `sim run --live`: run, write, compare, print."""
    from edgetier.cli.load import replay_with_progress  # it imports this module's table

    time_scale = 1.0 if args.time_scale is None else args.time_scale
    try:
        live = run_live(
            scenario,
            policies,
            time_scale,
            out / LIVE_DIR,
            args.workers,
            plots=not args.no_plots,
            replayer=replay_with_progress,
        )
    except (LaunchError, LoadError) as exc:
        print(f"edgetier sim: --live: {exc}", file=sys.stderr)
        return 1
    same = compare.same_tier_share(out / "requests.parquet", out / LIVE_DIR / "requests.parquet")
    rows = compare.compare(simulated.rows, live.rows, same)
    compare.write_csv(out / "comparison.csv", rows)
    if args.json:
        print_json(
            {"out": str(out), "rows": simulated.rows, "live_rows": live.rows, "comparison": rows}
        )
        return 0
    print_table(
        f"{scenario.name} live (time scale {time_scale:g})",
        headers(SHOWN),
        [[row[c] for c in SHOWN] for row in live.rows],
    )
    print_table(
        f"{scenario.name}: simulated and live",
        compare.COLUMNS,
        [[row[c] for c in compare.COLUMNS] for row in rows],
    )
    console.print(f"wrote {', '.join(str(f) for f in live.files)}, {out / 'comparison.csv'}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from fleetsim import sweep as sweeping

    try:
        params = [sweeping.parse_param(text) for text in args.param]
        plan = sweeping.plan(args.scenario, params, args.seeds, args.catalog)
    except (DataFileError, TraceError, ValueError, OSError) as exc:
        return _fail(str(exc))
    name = load_scenario(args.scenario, extra_catalogs=args.catalog).name
    out = args.out or Path("results") / f"{name}-sweep"
    with _progress() as bar:
        where = f"Ray ({args.ray})" if args.ray else "locally"
        task = bar.add_task(f"{len(plan.points)} runs {where}", total=len(plan.points))
        advance = lambda n: bar.advance(task, n)  # noqa: E731
        if args.ray:
            rows = sweeping.run_ray(plan, args.ray, advance)
        else:
            rows = sweeping.run_local(plan, advance)
    table = sweeping.write_table(out / "sweep.csv", plan, rows)
    figure = sweeping.plot(out / "sweep.png", plan, rows)
    quality = sweeping.plot_quality(out / "quality.png", plan, rows)
    if args.json:
        print_json({"out": str(out), "rows": rows})
        return 0
    shown = [*plan.columns[: plan.columns.index("policy")], "policy", *SHOWN[1:]]
    print_table(f"{name}: sweep", headers(shown), [[row.get(c) for c in shown] for row in rows])
    console.print(f"wrote {table}, {figure}, {quality}")
    return 0
