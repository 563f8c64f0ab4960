"""`edgetier load SCENARIO --orchestrator ADDR`: drive a running stack with a scenario's own
workload (code in `deploy.load`), and write what `edgetier sim run` writes.

    edgetier load SCENARIO --orchestrator ADDR [--policy P] [--time-scale S] [--duration S]
                  [--out DIR] [--workers N] [--max-in-flight N] [--json]

Before sending anything it checks that the orchestrator answers, that it loaded the policy, and
that the stack has the scenario's device nodes (the requests' origins): a stack started with
`edgetier up --scenario SCENARIO`. Bad input is one line naming the file, field or option, and
exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deploy.load import (
    DEFAULT_MAX_IN_FLIGHT,
    LoadError,
    LoadOptions,
    ReplayResult,
    Tally,
    policy_spec,
    replay,
    summarise_live,
)
from edgetier.argtypes import non_negative_float, positive_int
from edgetier.cli.output import console, fmt, print_json, print_table, progress_console
from edgetier.cli.sim import SHOWN, headers
from fleetsim.records import ParquetSink, Sink
from fleetsim.runner import expected_requests
from fleetsim.scenario import Scenario, load_scenario
from fleetsim.workload.trace import TraceError
from npu_sim.datafile import DataFileError
from orchestrator.client import DEFAULT_ADDRESS, OrchestratorClient
from routing.specs import PolicyError, PolicySpec


class UsageError(ValueError):
    """Input that cannot work: the message names the file, field or option."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    load = commands.add_parser(
        "load",
        help="replay a scenario's workload against a running stack; records as sim run",
        description="Sends a scenario's requests (its ids, origin devices, models, token "
        "counts and SLOs) to a running orchestrator in scaled real time, and writes "
        "requests.parquet, summary.csv and the plots of `edgetier sim run` to --out. Start "
        "the stack with `edgetier up --scenario SCENARIO` (locally or --ray).",
    )
    load.add_argument("scenario", type=Path, help="scenario YAML file (see scenarios/)")
    load.add_argument("--orchestrator", default=DEFAULT_ADDRESS, metavar="ADDR")
    load.add_argument(
        "--policy",
        help="policy label the requests name (one the orchestrator loaded; `edgetier nodes` "
        "lists them); default: the orchestrator's default",
    )
    load.add_argument(
        "--time-scale",
        type=non_negative_float,
        default=1.0,
        help="real seconds per modelled second: the stack's --time-scale (0: send as fast "
        "as the generator can)",
    )
    load.add_argument(
        "--duration",
        type=non_negative_float,
        metavar="S",
        help="replay only the first S modelled seconds of the workload (the scenario's duration_s)",
    )
    load.add_argument("--out", type=Path, help="output directory (default results/<name>-live)")
    load.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="sending processes, requests dealt round-robin (when one cannot keep up: see "
        "`edgetier bench load`)",
    )
    load.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help="requests in flight at once over all workers; keep it under the orchestrator's "
        f"--max-in-flight-per-client (default {DEFAULT_MAX_IN_FLIGHT})",
    )
    load.add_argument(
        "--timeout", type=non_negative_float, default=300.0, help="real seconds per request"
    )
    load.add_argument("--token", help="client bearer token, if the orchestrator requires one")
    load.add_argument("--tls-ca", type=Path, help="CA certificate of a TLS orchestrator")
    load.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    load.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    load.set_defaults(handler=_load)


def _load(args: argparse.Namespace) -> int:
    try:
        if args.timeout <= 0:
            raise UsageError(f"--timeout: must be more than 0 seconds, got {args.timeout:g}")
        scenario = _scenario(args.scenario, args.duration)
        label = _check_stack(scenario, args)
        spec = policy_spec(scenario, label)
    except (DataFileError, TraceError, UsageError) as exc:
        return _fail(str(exc))
    except PolicyError as exc:
        return _fail(f"--policy: {exc}")
    options = LoadOptions(
        address=args.orchestrator,
        time_scale=args.time_scale,
        workers=args.workers,
        max_in_flight=args.max_in_flight,
        token=args.token,
        tls_ca=args.tls_ca,
        timeout_s=args.timeout,
    )
    out = args.out or Path("results") / f"{scenario.name}-live"
    records = ParquetSink(out / "requests.parquet")
    try:
        result = replay_with_progress(scenario, spec, options, [records])
    except LoadError as exc:
        print(f"edgetier load: {exc}", file=sys.stderr)
        return 1
    finally:
        records.close()
    run = summarise_live(scenario, [result], out, records.path, plots=not args.no_plots)
    generator = generator_numbers(result)
    if args.json:
        print_json({"out": str(out), "rows": run.rows, "generator": generator})
        return 0
    print_table(
        f"{scenario.name} live at {args.orchestrator} (time scale {args.time_scale:g})",
        headers(SHOWN),
        [[row[c] for c in SHOWN] for row in run.rows],
    )
    console.print(f"wrote {', '.join(str(f) for f in run.files)}")
    return 0


def replay_with_progress(
    scenario: Scenario, spec: PolicySpec, options: LoadOptions, sinks: list[Sink]
) -> ReplayResult:
    """`deploy.load.replay` with a progress bar of live counts; Ctrl-C stops the sending and
    keeps what was sent (each still gets its record)."""
    total = expected_requests(scenario)
    with Progress(
        TextColumn(f"[bold]{scenario.name} {spec.label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
        console=progress_console,
        transient=False,
    ) as bar:
        task = bar.add_task("load", total=total, counts="")

        def show(tally: Tally) -> None:
            bar.update(task, completed=tally.answered, counts=counts_text(tally))

        result = replay(scenario, spec, options, sinks, total, show)
        bar.update(task, completed=result.tally.answered, total=result.tally.sent)
    progress_console.print(generator_line(result))
    if result.stopped:
        progress_console.print(
            f"stopped early: {result.tally.sent} requests sent, all recorded (the bound rows "
            "and x bound still cover the whole workload)"
        )
    return result


def counts_text(tally: Tally) -> str:
    failed = ", ".join(f"{status} {n}" for status, n in sorted(tally.failed.items()))
    return f"sent {tally.sent}  answered {tally.answered}  SLO met {tally.slo_met}" + (
        f"  failed: {failed}" if failed else ""
    )


def generator_numbers(result: ReplayResult) -> dict[str, float]:
    return {
        "sent": result.tally.sent,
        "wall_s": result.wall_s,
        "answered_per_s": result.rate,
        "late_p50_s": result.lateness_s(0.50),
        "late_p99_s": result.lateness_s(0.99),
    }


def generator_line(result: ReplayResult) -> str:
    return (
        f"generator: {result.tally.sent} requests in {fmt(result.wall_s)} s "
        f"({fmt(result.rate)} answered/s); sent late against the schedule by "
        f"p50 {fmt(result.lateness_s(0.5) * 1e3)} ms, p99 {fmt(result.lateness_s(0.99) * 1e3)} ms"
    )


def _fail(message: str) -> int:
    print(f"edgetier load: {message}", file=sys.stderr)
    return 2


def _scenario(path: Path, duration: float | None) -> Scenario:
    if duration is not None and duration <= 0:
        raise UsageError(f"--duration: must be more than 0 modelled seconds, got {duration:g}")
    return load_scenario(path, {"duration_s": duration} if duration is not None else None)


def _check_stack(scenario: Scenario, args: argparse.Namespace) -> str:
    """The policy label to send, once the orchestrator answered, loaded it, and has the
    scenario's origin devices; UsageError saying what is wrong otherwise."""
    where = f"--orchestrator {args.orchestrator}"
    try:
        with OrchestratorClient(
            args.orchestrator, token=args.token, timeout_s=10.0, tls_ca=args.tls_ca
        ) as client:
            loaded, default = client.policies()
            nodes = {node["id"] for node in client.nodes()}
    except grpc.RpcError as error:
        raise UsageError(f"{where}: {error.code().name}: {error.details()}") from None
    except OSError as exc:  # an unreadable --tls-ca
        raise UsageError(f"--tls-ca: {exc}") from None
    label = args.policy or default
    if label not in loaded:
        raise UsageError(
            f"--policy {label}: not loaded by the orchestrator; loaded: {', '.join(loaded)} "
            "(edgetier up --scenario loads every policy of the scenario)"
        )
    origins = scenario.device_ids(scenario.workload.device_group)
    missing = [node for node in origins if node not in nodes]
    if missing:
        raise UsageError(
            f"{where}: the stack lacks {len(missing)} of the scenario's {len(origins)} device "
            f"nodes (e.g. {missing[0]}); start it with edgetier up --scenario {args.scenario}"
        )
    others = [
        node
        for name, group in scenario.topology.items()
        for node in group.node_ids(name)
        if node not in nodes
    ]
    if others:
        print(
            f"edgetier load: warning: the stack lacks {len(others)} of the scenario's nodes "
            f"(e.g. {others[0]}): results will differ from the simulation",
            file=sys.stderr,
        )
    return label
