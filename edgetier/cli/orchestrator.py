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
import yaml

from edgetier.argtypes import (
    Number,
    non_negative_float,
    non_negative_int,
    port,
    positive_float,
    positive_int,
    uint32,
)
from edgetier.cli.catalogs import add_catalog_argument, predictor_from_args
from edgetier.cli.output import console, fmt, print_json, print_table
from edgetier.cli.policies import add_policy_arguments, policy_from_args
from edgetier.wire.auth import TOKEN_ENV, default_token
from edgetier.wire.net import ListenError
from edgetier.wire.tls import TlsError, add_tls_arguments, tls_from_args
from npu_sim.catalog import default_catalog
from npu_sim.quality import DEFAULT_TASK, TASKS
from orchestrator.client import DEFAULT_ADDRESS, OrchestratorClient, unreachable
from orchestrator.server import OrchestratorSettings, load_policies, serve
from orchestrator.validation import DEFAULT_MAX_TOKENS, MAX_OUTPUT_TOKENS
from routing.network import LinkOverride, RemoteTier, parse_link, with_overrides
from routing.specs import PolicyError, PolicySpec, spec_from_file, unique_labels

#: Where `infer` and `nodes` find the client token when --token is not given.
CLIENT_TOKEN_ENV = "EDGETIER_TOKEN"
#: Output tokens a request may ask for (`infer`, `demo`): what the orchestrator accepts.
max_tokens = Number(whole=True, low=1, high=MAX_OUTPUT_TOKENS)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    server = commands.add_parser("orchestrator", help="run the orchestrator gRPC server")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    server.add_argument("--port", type=port, default=50051, help="gRPC port (0: any free port)")
    server.add_argument("--metrics-port", type=port, default=0, help="/metrics port (0: any)")
    add_policy_arguments(server)
    server.add_argument(
        "--load-policy",
        action="append",
        default=[],
        metavar="ENTRY",
        help="also load this policy, so requests may name it by its label (repeatable): a "
        "policy as stack and scenario files write it, e.g. cascade or "
        "'{name: cascade, options: {threshold: 0.7}}'",
    )
    server.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the policies' randomness and of the answers' quality draws (a scenario's "
        "seed gives the figures its simulation records)",
    )
    server.add_argument(
        "--link",
        action="append",
        default=[],
        type=_link,
        metavar="TIER:FIELD=VALUE,...",
        help="override the modelled link to edge or cloud (repeatable), as a scenario's "
        "network: section does: e.g. edge:rtt_s=0.004,bandwidth_mbit_s=100 "
        "(fields rtt_s, bandwidth_mbit_s, joules_per_byte)",
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
        type=positive_float,
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
    prompt.add_argument("--prompt-tokens", type=uint32, help="prompt length in tokens")
    infer.add_argument(
        "--max-tokens",
        type=max_tokens,
        default=DEFAULT_MAX_TOKENS,
        help=f"output tokens to generate, 1 to {MAX_OUTPUT_TOKENS} (default {DEFAULT_MAX_TOKENS})",
    )
    infer.add_argument(
        "--slo-ms",
        type=positive_float,
        help="end-to-end latency objective in ms (default: none, and slo_met is null)",
    )
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
        default=os.environ.get(CLIENT_TOKEN_ENV),
        help=f"client bearer token (default: ${CLIENT_TOKEN_ENV})",
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=300.0, help="seconds to wait (default 300)"
    )
    parser.add_argument(
        "--tls-ca", type=Path, help="CA certificate that verifies a TLS orchestrator"
    )


def _link(text: str) -> tuple[RemoteTier, LinkOverride]:
    try:
        return parse_link(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _extra_policies(entries: list[str], seed: int) -> list[PolicySpec]:
    """`--load-policy` entries as checked specs (raises PolicyError naming the flag)."""
    specs = []
    for text in entries:
        try:
            spec = spec_from_file(yaml.safe_load(text))
            spec.build(seed)
            specs.append(spec)
        except (yaml.YAMLError, PolicyError) as exc:
            raise PolicyError(f"--load-policy {text}: {exc}") from None
    return unique_labels(specs)


def _serve(args: argparse.Namespace) -> int:
    try:
        tls = tls_from_args(args)
        policy = policy_from_args(args)
        extra = _extra_policies(args.load_policy, args.seed)
        load_policies(policy, args.seed, extra)  # fail here, before binding a port
        predictor_from_args(args)  # a bad catalog file too
        links = dict(args.link)
        if len(links) != len(args.link):
            raise ValueError("--link: give each tier once (all its fields in one --link)")
    except (TlsError, PolicyError, ValueError) as exc:
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
        extra_policies=extra,
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
        network=with_overrides(links),
    )
    return asyncio.run(_run_server(settings))


async def _run_server(settings: OrchestratorSettings) -> int:
    try:
        server = await serve(settings)
    except ListenError as exc:  # one line: `edgetier up` shows it as the reason
        flag = "--port" if exc.service == "gRPC" else "--metrics-port"
        hint = f"is a stack already running? use {flag}" if exc.in_use else "see --host"
        print(f"edgetier orchestrator: {exc} ({hint})", file=sys.stderr)
        return 1
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


def _failed(command: str, error: grpc.RpcError, args: argparse.Namespace) -> int:
    """One line for a call that failed: what to do, where the status says it; else the
    orchestrator's own message (it names the field or the reason). Exit status 1."""
    code, details = error.code(), error.details()
    if unreachable(error):
        message = (
            f"no orchestrator answers at {args.orchestrator} (start one with `edgetier up`, or "
            "give its address with --orchestrator)"
        )
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        message = (
            f"the orchestrator requires a client token: pass --token or set ${CLIENT_TOKEN_ENV}"
        )
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        message = f"the orchestrator refused the client token: check --token or ${CLIENT_TOKEN_ENV}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"no answer within {args.timeout:g} s (--timeout)"
    else:
        message = f"{code.name}: {details}"
    print(f"edgetier {command}: {message}", file=sys.stderr)
    return 1


def _infer(args: argparse.Namespace) -> int:
    fields = {
        "prompt": args.prompt,
        "prompt_tokens": args.prompt_tokens,
        "max_tokens": args.max_tokens,
        "slo_ms": args.slo_ms or 0.0,  # 0: none, on the wire
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
        return _failed("infer", error, args)
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
        return _failed("nodes", error, args)
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
