"""`edgetier up`: start the embedded local stack and keep it running until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from deploy.config import DEFAULT_CONFIG, load_config
from deploy.local import LaunchError, LocalStack
from edgetier.output import console, print_json, print_table
from npu_sim.datafile import DataFileError


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = commands.add_parser(
        "up",
        help="start the orchestrator and agents as local processes",
        description="Starts the orchestrator (default 127.0.0.1:50051) and the agents of the "
        "config file (default: 50 x ax630c devices, 4 x ax650n edge boxes, 2 x h100-pcie-80g), "
        "prints their endpoints, and runs until Ctrl-C or SIGTERM, then stops every child.",
    )
    up.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="stack YAML file")
    up.add_argument("--port", type=int, help="orchestrator gRPC port (overrides the config)")
    up.add_argument("--time-scale", type=float, help="overrides the config's time_scale")
    up.add_argument("--sd-dir", type=Path, help="write Prometheus file_sd targets here")
    up.add_argument("--log-dir", type=Path, help="children's logs (default: a temporary folder)")
    up.add_argument(
        "--json",
        action="store_true",
        help="print the endpoints as one JSON line instead of a table",
    )
    up.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except DataFileError as exc:
        print(f"edgetier up: {exc}", file=sys.stderr)
        return 2
    if args.time_scale is not None:
        config = dataclasses.replace(config, time_scale=args.time_scale)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stack = LocalStack(config, port=args.port, sd_dir=args.sd_dir, log_dir=args.log_dir)
    try:
        stack.start()
    except LaunchError as exc:
        print(f"edgetier up: {exc}", file=sys.stderr)
        return 1
    try:
        if args.json:
            print_json(
                {
                    "event": "up",
                    "orchestrator": stack.address,
                    "nodes": config.node_count,
                    "endpoints": stack.endpoints(),
                }
            )
        else:
            _print_endpoints(stack, config.node_count)
        sys.stdout.flush()
        while not stop.wait(0.5):
            dead = [c for c in stack.children if c.process.poll() is not None]
            if dead:
                print(
                    f"edgetier up: {dead[0].kind} {dead[0].name} exited; stopping "
                    f"(log {dead[0].log_path})",
                    file=sys.stderr,
                )
                return 1
    finally:
        stack.stop()
    return 0


def _print_endpoints(stack: LocalStack, node_count: int) -> None:
    print_table(
        f"EdgeTier is up: {node_count} nodes (logs in {stack.log_dir})",
        ["process", "kind", "gRPC", "metrics"],
        [[e["name"], e["kind"], e["grpc"], e["metrics"]] for e in stack.endpoints()],
    )
    console.print(
        f"try: edgetier infer --orchestrator {stack.address} --model qwen2.5-0.5b "
        "--prompt 'Hello' --json      (Ctrl-C stops everything)"
    )
