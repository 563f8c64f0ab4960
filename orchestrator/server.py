"""Assembling and running the orchestrator: gRPC (with health and reflection), /metrics, and the
liveness sweep. `serve(settings)` is what the CLI, the launchers and the tests call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from edgetier.v1 import orchestrator_pb2
from edgetier.wire.auth import default_token
from edgetier.wire.metrics_http import MetricsHTTPServer
from edgetier.wire.net import ListenError, advertised_host, host_port
from edgetier.wire.rpc import add_servicer
from edgetier.wire.tls import TlsConfig, add_port
from npu_sim.predictor import load_predictor
from npu_sim.quality import quality_for
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.registry import Registry
from orchestrator.router import Router
from orchestrator.servicer import InFlightLimits, OrchestratorServicer
from routing.cluster import Cluster
from routing.network import NetworkModel
from routing.policies import BUILTINS, DEFAULT_POLICY
from routing.policy import Policy
from routing.specs import PolicySpec

log = logging.getLogger(__name__)

SERVICE = orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name
MAX_MESSAGE_BYTES = 1 << 20


@dataclass
class OrchestratorSettings:
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 0
    policy: PolicySpec = field(default_factory=lambda: PolicySpec(DEFAULT_POLICY))
    # More policies requests may name (by label), besides the built-ins and `policy`.
    extra_policies: Sequence[PolicySpec] = ()
    seed: int = 0
    time_scale: float = 1.0
    agent_token: str = field(default_factory=default_token, repr=False)
    client_tokens: Sequence[str] = ()
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 3.5
    request_timeout_s: float = 300.0
    attempt_floor_s: float = 2.0  # the least real time an attempt gets before "timeout"
    max_in_flight: int = 4096
    max_in_flight_per_client: int = 1024
    sd_dir: Path | None = None
    tls: TlsConfig | None = None
    network: NetworkModel = field(default_factory=NetworkModel)
    catalog: tuple[Path, ...] = ()  # users' chips and models beside the shipped catalog


class OrchestratorServer:
    """A running orchestrator; `stop()` ends it gracefully."""

    def __init__(self, settings: OrchestratorSettings) -> None:
        self.settings = settings
        predictor = load_predictor(settings.catalog)
        self.metrics = OrchestratorMetrics()
        self.cluster = Cluster(predictor, settings.network)
        self.registry = Registry(
            self.cluster,
            self.metrics,
            time.monotonic,
            settings.heartbeat_timeout_s,
            settings.sd_dir,
            tls=settings.tls,
        )
        self.policies = load_policies(settings.policy, settings.seed, settings.extra_policies)
        # Answers' quality draws from the seed, as fleetsim's from the run's: same figures.
        quality = quality_for(predictor.catalog, settings.seed)
        self.router = Router(
            self.cluster,
            self.registry,
            self.metrics,
            self.policies,
            settings.time_scale,
            settings.attempt_floor_s,
            quality,
        )
        self.servicer = OrchestratorServicer(
            predictor.catalog,
            self.cluster,
            self.registry,
            self.router,
            self.metrics,
            settings.policy.label,
            settings.agent_token,
            settings.client_tokens,
            settings.request_timeout_s,
            settings.heartbeat_interval_s,
            InFlightLimits(settings.max_in_flight, settings.max_in_flight_per_client),
            quality,
        )
        self.health = HealthServicer()
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        self.grpc_address = ""
        self.metrics_url = ""
        self._http: MetricsHTTPServer | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        add_servicer(
            self.servicer, self.server, orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"]
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (
                SERVICE,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self.server,
        )
        port = add_port(self.server, f"{s.host}:{s.port}", s.tls, require_client_auth=False)
        if port == 0:
            raise ListenError("gRPC", s.port, False, f"cannot listen on {s.host}:{s.port}")
        host = advertised_host(s.host)
        self.grpc_address = host_port(host, port)
        self._http = MetricsHTTPServer(s.host, s.metrics_port, self.metrics.registry)
        metrics_port = self._http.port
        self.metrics_url = f"http://{host_port(host, metrics_port)}/metrics"
        self.registry.orchestrator_metrics = host_port(host, metrics_port)
        self.registry.write_targets()
        await self.server.start()
        for service in ("", SERVICE):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s / 2)
            self.registry.sweep()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let in-flight calls finish within `grace_s`, release everything."""
        self.servicer.accepting = False
        await self.health.enter_graceful_shutdown()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.server.stop(grace_s)
        await self.registry.close()
        if self._http is not None:
            await asyncio.to_thread(self._http.close)

    async def wait(self) -> None:
        await self.server.wait_for_termination()


def load_policies(
    default: PolicySpec, seed: int, extra: Sequence[PolicySpec] = ()
) -> dict[str, Policy]:
    """What requests may name, by label: every built-in with its default options, the default
    policy and the `extra` ones (built-ins with options, or users' classes: a scenario's
    policies, live); raises PolicyError."""
    specs = [PolicySpec(name) for name in BUILTINS]
    for spec in (default, *extra):
        if all(spec.label != known.label for known in specs):
            specs.append(spec)
    return {spec.label: spec.build(seed) for spec in specs}


async def serve(settings: OrchestratorSettings) -> OrchestratorServer:
    server = OrchestratorServer(settings)
    await server.start()
    return server
