"""`edgetier orchestrator` (run the server), `edgetier infer` and `edgetier nodes` (use it)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import grpc

from edgetier.cli.argtypes import non_negative_float, port, positive_int
from edgetier.cli.catalogs import add_catalog_argument, predictor_from_args
from edgetier.cli.output import console, fmt, print_json, print_table
from edgetier.cli.policies import add_policy_arguments, policy_from_args
from edgetier.wire.auth import TOKEN_ENV, default_token
from edgetier.wire.tls import TlsError, add_tls_arguments, tls_from_args
from npu_sim.catalog import default_catalog
from npu_sim.quality import DEFAULT_TASK, TASKS
from orchestrator.client import DEFAULT_ADDRESS, OrchestratorClient
from orchestrator.server import OrchestratorSettings, load_policies, serve
from routing.specs import PolicyError


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    server = commands.add_parser("orchestrator", help="run the orchestrator gRPC server")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    server.add_argument("--port", type=port, default=50051, help="gRPC port (0: any free port)")
    server.add_argument("--metrics-port", type=port, default=0, help="/metrics port (0: any)")
    add_policy_arguments(server)
    server.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the policies' randomness and of the answers' quality draws (a scenario's "
        "seed gives the figures its simulation records)",
    )
    server.add_argument(
        "--time-scale",
        type=non_negative_float,
        default=1.0,
        help="real seconds per modelled second of network time (0: no waits)",
    )
    server.add_argument(
        "--token",
        default=default_token(),
        help=f"shared agent token (default: ${TOKEN_ENV}, else the development token)",
    )
    server.add_argument(
        "--client-token",
        action="append",
        default=[],
        help="require this bearer token from clients (repeatable)",
    )
    server.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=3.5,
        help="seconds without heartbeat before an agent's nodes are down",
    )
    server.add_argument("--sd-dir", type=Path, help="write Prometheus file_sd targets here")
    server.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=4096,
        help="requests routed at once, in all (more: RESOURCE_EXHAUSTED)",
    )
    server.add_argument(
        "--max-in-flight-per-client",
        type=positive_int,
        default=1024,
        help="requests routed at once per client (token, else address)",
    )
    server.add_argument(
        "--attempt-timeout-floor",
        type=non_negative_float,
        default=2.0,
        help="real seconds an attempt on a node gets at least before it counts as a timeout "
        "and the request escalates (else 4x its predicted latency)",
    )
    add_catalog_argument(server)
    add_tls_arguments(server)
    server.set_defaults(handler=_serve)

    infer = commands.add_parser("infer", help="send one inference request to the orchestrator")
    infer.add_argument(
        "--model",
        required=True,
        metavar="M",
        help="model id: shipped ("
        + ", ".join(sorted(default_catalog().models_by_id))
        + ") or one of the orchestrator's --catalog files'",
    )
    prompt = infer.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", help="prompt text (about 4 characters a token)")
    prompt.add_argument("--prompt-tokens", type=int, help="prompt length in tokens")
    infer.add_argument("--max-tokens", type=int, default=0, help="output tokens (default 128)")
    infer.add_argument("--slo-ms", type=float, default=0.0, help="latency objective in ms")
    infer.add_argument(
        "--policy",
        default="",
        help="routing policy: one the orchestrator loaded (`edgetier nodes` lists them); "
        "default: the orchestrator's",
    )
    infer.add_argument(
        "--task",
        default="",
        choices=["", *TASKS],
        metavar="TASK",
        help=f"an LLM request's task family ({', '.join(TASKS)}; default {DEFAULT_TASK}): "
        "what its answer's quality (P(correct) in the reply) is measured on",
    )
    infer.add_argument("--client-node", default="", help="the device node the request comes from")
    infer.add_argument("--request-id", default="", help="idempotency key")
    infer.add_argument("--stream", action="store_true", help="print tokens as they come")
    infer.add_argument("--json", action="store_true", help="print the reply as one JSON object")
    _client_options(infer)
    infer.set_defaults(handler=_infer)

    nodes = commands.add_parser("nodes", help="list the nodes the orchestrator knows")
    nodes.add_argument("--json", action="store_true", help="print one JSON object")
    _client_options(nodes)
    nodes.set_defaults(handler=_nodes)


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orchestrator", default=DEFAULT_ADDRESS, metavar="ADDR")
    parser.add_argument(
        "--token",
        default=os.environ.get("EDGETIER_TOKEN"),
        help="client bearer token (env EDGETIER_TOKEN)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    parser.add_argument(
        "--tls-ca", type=Path, help="CA certificate that verifies a TLS orchestrator"
    )


def _serve(args: argparse.Namespace) -> int:
    try:
        tls = tls_from_args(args)
        policy = policy_from_args(args)
        load_policies(policy, args.seed)  # fail here, before binding a port
        predictor_from_args(args)  # a bad catalog file too
    except (TlsError, PolicyError) as exc:
        print(f"edgetier orchestrator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s orchestrator %(levelname)s %(message)s",
    )
    settings = OrchestratorSettings(
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        policy=policy,
        catalog=tuple(path.resolve() for path in args.catalog),
        seed=args.seed,
        time_scale=args.time_scale,
        agent_token=args.token,
        client_tokens=tuple(args.client_token),
        heartbeat_timeout_s=args.heartbeat_timeout,
        sd_dir=args.sd_dir,
        max_in_flight=args.max_in_flight,
        max_in_flight_per_client=args.max_in_flight_per_client,
        tls=tls,
        attempt_floor_s=args.attempt_timeout_floor,
    )
    return asyncio.run(_run_server(settings))


async def _run_server(settings: OrchestratorSettings) -> int:
    try:
        server = await serve(settings)
    except OSError as exc:
        print(f"edgetier orchestrator: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "event": "listening",
                "service": "orchestrator",
                "grpc": server.grpc_address,
                "metrics": server.metrics_url,
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()
    return 0


def _client(args: argparse.Namespace) -> OrchestratorClient:
    return OrchestratorClient(
        args.orchestrator, token=args.token, timeout_s=args.timeout, tls_ca=args.tls_ca
    )


def _infer(args: argparse.Namespace) -> int:
    fields = {
        "prompt": args.prompt,
        "prompt_tokens": args.prompt_tokens,
        "max_tokens": args.max_tokens,
        "slo_ms": args.slo_ms,
        "policy": args.policy,
        "request_id": args.request_id,
        "client_node": args.client_node,
        "task": args.task,
    }
    try:
        with _client(args) as client:
            if args.stream:
                reply = {}
                for message in client.infer_stream(args.model, **fields):
                    if "token" in message and not args.json:
                        print(f"token {message['token']} at {message['time_s']:.3f}s", flush=True)
                    elif "token" not in message:
                        reply = message
            else:
                reply = client.infer(args.model, **fields)
    except grpc.RpcError as error:
        print(f"edgetier infer: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    if args.json:
        print_json(reply)
        return 0
    path = " -> ".join(f"{e['from_tier']} ({e['reason']})" for e in reply["escalations"])
    console.print(
        f"served on [bold]{reply['tier']}[/] node {reply['node']} by {reply['model']}: "
        f"TTFT {fmt(reply['ttft_s'])} s, latency {fmt(reply['latency_s'])} s, "
        f"{fmt(reply['energy_j'])} J, {reply['output_tokens']} tokens"
        + (
            f", P(correct) {fmt(reply['p_correct'])} on {reply['task']}"
            if reply["p_correct"] is not None
            else ""
        )
        + (f"; escalated from {path}" if path else "")
    )
    return 0


def _nodes(args: argparse.Namespace) -> int:
    try:
        with _client(args) as client:
            nodes = client.nodes()
            policies, default_policy = client.policies()
    except grpc.RpcError as error:
        print(f"edgetier nodes: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    if args.json:
        print_json({"nodes": nodes, "policies": policies, "default_policy": default_policy})
        return 0
    print_table(
        f"{len(nodes)} nodes",
        ["node", "tier", "hardware", "state", "queue", "in flight", "models", "power W"],
        [
            [
                n["id"],
                n["tier"],
                n["hardware"],
                n["state"],
                f"{n['queue_depth']}/{n['queue_capacity']}",
                n["in_flight"],
                ", ".join(n["models"]),
                n["power_w"],
            ]
            for n in nodes
        ],
    )
    console.print(f"policies loaded: {', '.join(policies)} (default: {default_policy})")
    return 0
