"""`edgetier sim`: fleet simulation in virtual time (code in `fleetsim/`).

    edgetier sim run SCENARIO [--out DIR] [--policies a,b,c] [--seed N] [--json]
    edgetier sim sweep SCENARIO --param PATH=v1,v2 [--param ...] [--seeds N] [--ray [ADDRESS]]
        (--param policy=cascade --param policy.threshold=0.2,0.5,0.8: a policy option)

`run` shows a progress bar, writes requests.parquet, summary.csv and PNG plots to DIR (default
results/<scenario name>) and prints the summary. `sweep` runs a grid of overrides x seeds,
locally or as Ray tasks, into one table and one plot. A bad scenario, trace or parameter exits
with status 2 and a message that names the file, field and line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgetier.cli.catalogs import add_catalog_argument
from edgetier.cli.output import console, print_json, print_table
from edgetier.cli.policies import add_option_argument, policies_from_text
from fleetsim.runner import ConservationError, expected_requests, run_scenario
from fleetsim.scenario import load_scenario
from fleetsim.summary import COLUMNS
from fleetsim.workload.trace import TraceError
from npu_sim.datafile import DataFileError
from routing.policies import BUILTINS
from routing.specs import PolicyError, with_cli_options

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
    "joules_vs_oracle": "x oracle",
    "mean_quality": "quality",
    "quality_vs_requested": "q vs asked",
    "substituted_share": "substituted",
}


def _headers(columns: list[str]) -> list[str]:
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
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.add_argument("--json", action="store_true", help="print the summary rows as JSON")
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
    sweep.add_argument("--seeds", type=int, default=1, help="seeds per point (from the file's)")
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


def _fail(message: str) -> int:
    print(f"edgetier sim: {message}", file=sys.stderr)
    return 2


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario, extra_catalogs=args.catalog)
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
    if args.json:
        print_json({"out": str(out), "rows": result.rows})
        return 0
    print_table(
        f"{scenario.name} (seed {result.seed}): {result.stats[policies[0].label].requests} "
        "requests",
        _headers(SHOWN),
        [[row[c] for c in SHOWN] for row in result.rows],
    )
    console.print(f"wrote {', '.join(str(f) for f in result.files)}")
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
    print_table(f"{name}: sweep", _headers(shown), [[row.get(c) for c in shown] for row in rows])
    console.print(f"wrote {table}, {figure}, {quality}")
    return 0
