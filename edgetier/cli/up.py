"""`edgetier up`: start the stack and keep it running until Ctrl-C or SIGTERM.

The stack is a stack file's (`--config`) or a scenario's fleet (`--scenario`: its topology,
links and policies, deploy.scenario). Agents run as local processes (deploy.local.LocalStack)
or, with `--ray`, as Ray actors placed by node resources (deploy.ray_stack.RayStack);
`--prometheus` adds a local Prometheus that discovers every process through the orchestrator's
file_sd targets. On exit, whatever ended it, everything it started is stopped; killed outright,
its children die with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from deploy.config import DEFAULT_CONFIG, StackConfig, load_config
from deploy.local import LaunchError, LocalStack
from deploy.monitoring import DEFAULT_PORT, PrometheusMissingError, prometheus_binary
from deploy.ray_stack import LOCAL, RayStack
from deploy.scenario import not_live, scenario_stack
from deploy.stack import Stack
from edgetier.argtypes import non_negative_float, port
from edgetier.cli.catalogs import add_catalog_argument
from edgetier.cli.output import console, print_json, print_table
from edgetier.cli.policies import add_option_argument
from edgetier.wire.auth import DEFAULT_TOKEN, TOKEN_ENV, default_token
from edgetier.wire.tls import TlsError, add_tls_arguments, tls_from_args
from fleetsim.scenario import load_scenario
from npu_sim.datafile import DataFileError
from routing.specs import PolicyError, PolicySpec, with_cli_options

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = commands.add_parser(
        "up",
        help="start the orchestrator and agents (local processes, or a Ray cluster)",
        description="Starts the orchestrator (default 127.0.0.1:50051) and the agents of the "
        "config file (default: 50 x ax630c devices, 4 x ax650n edge boxes, 2 x h100-pcie-80g) "
        "as local processes, or as Ray actors with --ray; prints their endpoints, and runs "
        "until Ctrl-C or SIGTERM, then stops everything it started. Agents register with the "
        f"token in ${TOKEN_ENV} (else the development token).",
    )
    source = up.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="stack YAML file")
    source.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE",
        help="start a scenario's fleet instead: one agent per topology group (nodes named as "
        "fleetsim names them), its network links, and all its policies (the first the default)",
    )
    up.add_argument("--port", type=port, help="orchestrator gRPC port (overrides the config)")
    up.add_argument(
        "--host",
        help="address the orchestrator and agents bind (overrides the config; default "
        "127.0.0.1). 0.0.0.0 lets other machines in, e.g. agents on other Ray nodes",
    )
    up.add_argument(
        "--time-scale", type=non_negative_float, help="overrides the config's time_scale"
    )
    up.add_argument(
        "--policy",
        metavar="POLICY",
        help="the orchestrator's default policy (overrides the config's): a built-in or a "
        "Policy subclass as package.module:Class, on the Python path of the stack's processes",
    )
    add_option_argument(up)
    up.add_argument("--log-dir", type=Path, help="children's logs (default: a temporary folder)")
    up.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        metavar="ADDRESS",
        help="run each agent as a Ray actor on a node offering its tier's resource "
        "(edgetier_device, edgetier_edge, edgetier_cloud); ADDRESS of an existing cluster "
        "(host:port, auto), or none to start a local Ray",
    )
    discovery = up.add_mutually_exclusive_group()
    discovery.add_argument("--sd-dir", type=Path, help="write Prometheus file_sd targets here")
    discovery.add_argument(
        "--prometheus",
        action="store_true",
        help="also start a local Prometheus (the `prometheus` binary on PATH) scraping every "
        "process; its config, targets and data go to LOG_DIR/prometheus",
    )
    up.add_argument(
        "--prometheus-port",
        type=port,
        default=DEFAULT_PORT,
        help=f"Prometheus's port on 127.0.0.1 (default {DEFAULT_PORT}, what the Grafana "
        "datasource expects; 0: any free port)",
    )
    up.add_argument(
        "--json",
        action="store_true",
        help="print the endpoints as one JSON line instead of a table",
    )
    add_catalog_argument(up)
    add_tls_arguments(up)
    up.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
    except DataFileError as exc:
        print(f"edgetier up: {exc}", file=sys.stderr)
        return 2
    try:
        config = _with_policy(config, args.policy, args.policy_option)
    except PolicyError as exc:
        print(f"edgetier up: --policy: {exc}", file=sys.stderr)
        return 2
    if args.time_scale is not None:
        config = dataclasses.replace(config, time_scale=args.time_scale)
    if args.host is not None:
        config = dataclasses.replace(config, host=args.host)
    if args.prometheus:
        try:
            prometheus_binary()
        except PrometheusMissingError as exc:
            print(f"edgetier up: {exc}", file=sys.stderr)
            return 2
    token = default_token()
    if config.host not in LOOPBACK and token == DEFAULT_TOKEN:
        print(
            f"edgetier up: warning: binding {config.host} with the development agent token; "
            f"anyone who can reach it can register agents: set {TOKEN_ENV}",
            file=sys.stderr,
        )
    try:
        tls = tls_from_args(args)
    except TlsError as exc:
        print(f"edgetier up: {exc}", file=sys.stderr)
        return 2
    if tls is not None and args.ray is not None:
        print(
            "edgetier up: TLS flags with --ray are not supported (the certificate files "
            "would have to be on every Ray node)",
            file=sys.stderr,
        )
        return 2
    options: dict[str, Any] = {
        "tls": tls,
        "token": token,
        "port": args.port,
        "sd_dir": args.sd_dir,
        "log_dir": args.log_dir,
        "prometheus_port": args.prometheus_port if args.prometheus else None,
    }
    stack: Stack = (
        LocalStack(config, **options)
        if args.ray is None
        else RayStack(config, ray_address=args.ray, **options)
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        stack.start()
    except LaunchError as exc:
        print(f"edgetier up: {exc}", file=sys.stderr)
        return 1
    _stop_on_signals(stop)  # again: ray.init installs its own SIGTERM handler
    failed = False  # a member died: its log is kept, for the message points at it
    try:
        if args.json:
            print_json(_summary(stack, args.ray))
        else:
            _print_endpoints(stack, args.ray, args.scenario)
        sys.stdout.flush()
        while not stop.wait(0.5):
            dead = stack.exited()
            if dead is not None:
                print(
                    f"edgetier up: {dead.kind} {dead.name} exited; stopping (log {dead.log})",
                    file=sys.stderr,
                )
                failed = True
                return 1
    finally:
        stack.stop(keep_logs=failed)
    return 0


def _load(args: argparse.Namespace) -> StackConfig:
    """The stack file's config, or the scenario's stack at the time scale asked for."""
    if args.scenario is None:
        return load_config(args.config, extra_catalogs=args.catalog)
    scenario = load_scenario(args.scenario, extra_catalogs=args.catalog)
    for sentence in not_live(scenario):
        print(f"edgetier up: warning: {args.scenario}: {sentence}", file=sys.stderr)
    return scenario_stack(scenario, 1.0 if args.time_scale is None else args.time_scale)


def _with_policy(config: StackConfig, policy: str | None, options: list[str]) -> StackConfig:
    """The config with `--policy` and `--policy-option` applied and the policy loaded once here,
    so a bad name or option stops `up` before any process starts."""
    configured = config.orchestrator.policy
    spec = configured if policy is None else PolicySpec(policy)
    spec = with_cli_options([spec], options)[0]
    spec.build()
    others = list(config.orchestrator.policies)
    if spec.label != configured.label:  # the file's default stays loaded (a scenario's is)
        others.insert(0, configured)
    others = [other for other in others if other.label != spec.label]
    orchestrator = dataclasses.replace(config.orchestrator, policy=spec, policies=others)
    return dataclasses.replace(config, orchestrator=orchestrator)


def _stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())


def _summary(stack: Stack, ray: str | None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "event": "up",
        "orchestrator": stack.address,
        "nodes": stack.config.node_count,
        "endpoints": stack.endpoints(),
    }
    if stack.prometheus_url:
        summary["prometheus"] = stack.prometheus_url
    if ray is not None:
        summary["ray"] = ray
    return summary


def _print_endpoints(stack: Stack, ray: str | None, scenario: Path | None) -> None:
    endpoints = stack.endpoints()
    columns = ["process", "kind", "gRPC", "metrics"]
    rows = [[e["name"], e["kind"], e["grpc"], e["metrics"]] for e in endpoints]
    if ray is not None:
        columns.append("Ray node (IP, id)")
        for row, e in zip(rows, endpoints, strict=True):
            row.append(f"{e['ray_node_ip']} {e['ray_node_id'][:12]}" if "ray_node_ip" in e else "")
    where = {None: "", LOCAL: " on a local Ray"}.get(ray, f" on the Ray cluster at {ray}")
    print_table(
        f"EdgeTier is up{where}: {stack.config.node_count} nodes (logs in {stack.log_dir})",
        columns,
        rows,
    )
    if stack.prometheus_url:
        console.print(f"Prometheus: {stack.prometheus_url}")
    if scenario is not None:
        console.print(
            f"load it: edgetier load {scenario} --orchestrator {stack.address} "
            f"--time-scale {stack.config.time_scale:g}      (Ctrl-C stops everything)"
        )
        return
    console.print(
        f"try: edgetier infer --orchestrator {stack.address} --model qwen2.5-0.5b "
        "--prompt 'Hello' --json      (Ctrl-C stops everything)"
    )
