"""`edgetier agent`: run a device agent, one process hosting N simulated nodes of one chip.

It prints one JSON line when it serves ({"event": "listening", "grpc": ..., "metrics": ...}),
logs to stderr, and stops gracefully on SIGTERM/SIGINT. Bad settings exit with status 2 and
name the flag and the valid values.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from device_agent.config import (
    DEFAULT_HOST,
    DEFAULT_ORCHESTRATOR,
    AgentSettings,
    SettingsError,
    parse_models,
    validate,
)
from edgetier.argtypes import Number, non_negative_float, port, positive_int
from edgetier.cli.catalogs import add_catalog_argument, predictor_from_args
from edgetier.wire.auth import TOKEN_ENV, default_token
from edgetier.wire.tls import TlsError, add_tls_arguments, tls_from_args
from npu_sim.catalog import default_catalog
from npu_sim.engine import DEFAULT_MAX_BATCH, DEFAULT_QUEUE_CAPACITY
from npu_sim.hardware import TIERS
from routing.groups import NodeGroup


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    catalog = default_catalog()
    agent = commands.add_parser(
        "agent",
        help="run a device agent: a gRPC server hosting simulated NPU/GPU nodes",
        description="Serve N nodes (named NAME-0 .. NAME-{N-1}) of one chip, all serving the "
        "same models, over gRPC (edgetier.v1.DeviceAgent, health, reflection), with Prometheus "
        "metrics on their own port. Registers with the orchestrator unless --no-register. "
        "Prints one JSON line with the bound addresses once serving.",
    )
    agent.add_argument("--name", required=True, help="agent name; nodes are NAME-0, NAME-1, ...")
    agent.add_argument("--tier", required=True, choices=TIERS)
    agent.add_argument(
        "--hardware",
        required=True,
        metavar="HW",
        help="the nodes' chip: shipped ("
        + ", ".join(sorted(catalog.hardware_by_id))
        + ") or one of the --catalog files'",
    )
    agent.add_argument("--nodes", type=positive_int, default=1, help="nodes to host (default 1)")
    agent.add_argument(
        "--models",
        required=True,
        metavar="M:P[,M:P...]",
        help="models every node serves, each at a precision, e.g. qwen2-0.5b:w8a16,yolov8s:w8a8",
    )
    agent.add_argument(
        "--queue-capacity",
        type=positive_int,
        default=DEFAULT_QUEUE_CAPACITY,
        help=f"waiting requests per node before RESOURCE_EXHAUSTED (default "
        f"{DEFAULT_QUEUE_CAPACITY})",
    )
    agent.add_argument(
        "--max-batch",
        type=positive_int,
        default=DEFAULT_MAX_BATCH,
        help=f"decode batch limit on hardware that batches (default {DEFAULT_MAX_BATCH})",
    )
    agent.add_argument(
        "--time-scale",
        type=non_negative_float,
        default=1.0,
        help="real seconds per modelled second: 0.1 runs ten times faster, 0 does not wait "
        "at all (default 1)",
    )
    agent.add_argument(
        "--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})"
    )
    agent.add_argument("--port", type=port, default=0, help="gRPC port (default 0: any free)")
    agent.add_argument(
        "--metrics-port", type=port, default=0, help="/metrics port (default 0: any free)"
    )
    agent.add_argument(
        "--orchestrator",
        default=DEFAULT_ORCHESTRATOR,
        metavar="ADDR",
        help=f"orchestrator host:port to register with (default {DEFAULT_ORCHESTRATOR})",
    )
    agent.add_argument(
        "--token",
        default=None,
        help=f"shared agent token (default: ${TOKEN_ENV}, else the development token)",
    )
    agent.add_argument(
        "--no-register", action="store_true", help="standalone: do not contact an orchestrator"
    )
    agent.add_argument(
        "--grace-s",
        type=non_negative_float,
        default=10.0,
        help="on SIGTERM/SIGINT, real seconds in-flight requests get to finish (default 10)",
    )
    agent.add_argument(
        "--slowdown",
        action="append",
        default=[],
        metavar="NODE=FACTOR",
        type=_slowdown,
        help="fault injection: make NODE this many times slower (repeatable)",
    )
    add_catalog_argument(agent)
    add_tls_arguments(agent)
    agent.set_defaults(handler=_agent, parser=agent)


#: How many times slower than modelled a node runs (--slowdown NODE=FACTOR).
SLOWDOWN = Number(whole=False, low=1)


def _slowdown(text: str) -> tuple[str, float]:
    node, _, factor = text.partition("=")
    if not node or not factor:
        raise argparse.ArgumentTypeError(f"expected NODE=FACTOR, got {text!r}")
    return node, float(SLOWDOWN(factor))


def _agent(args: argparse.Namespace) -> int:
    from device_agent.server import run  # grpc is only needed by this subcommand

    parser: argparse.ArgumentParser = args.parser
    try:
        tls = tls_from_args(args)
    except TlsError as exc:
        parser.error(f"argument {exc}")
    try:
        group = NodeGroup(
            tier=args.tier,
            hardware=args.hardware,
            models=parse_models(args.models),
            nodes=args.nodes,
            queue_capacity=args.queue_capacity,
            max_batch=args.max_batch,
        )
        settings = AgentSettings(
            name=args.name,
            group=group,
            time_scale=args.time_scale,
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            orchestrator=args.orchestrator,
            token=args.token if args.token is not None else default_token(),
            register=not args.no_register,
            grace_s=args.grace_s,
            tls=tls,
            slowdown=dict(args.slowdown),
            catalog=tuple(path.resolve() for path in args.catalog),
        )
        validate(settings, predictor_from_args(args))
    except SettingsError as exc:
        parser.error(f"argument {exc.flag}: {exc}")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(run(settings))
