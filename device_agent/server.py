"""Assembles one agent process: nodes, gRPC server (DeviceAgent, health, reflection), metrics
endpoint, registration; and takes it down gracefully.

`serve(settings)` starts everything on the running loop and returns an `AgentServer` (tests and
launchers use it in-process); `run(settings)` is the process main behind `edgetier agent`: it
announces the bound addresses as one JSON line on stdout and stops on SIGTERM/SIGINT.

Stopping is ordered so that no accepted request is lost: stop accepting (new Run ->
UNAVAILABLE, health NOT_SERVING), stop heartbeating, let the nodes finish what they accepted
within the grace period, give the handlers a moment to send those replies, then close the ports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from device_agent import config, convert
from device_agent.agent import Agent
from device_agent.config import MAX_RECEIVE_MESSAGE_BYTES, AgentSettings
from device_agent.metrics import AgentMetrics, loop_bound
from device_agent.registration import Registrar
from device_agent.servicer import DeviceAgentServicer
from edgetier.v1 import agent_pb2, common_pb2
from edgetier.wire.metrics_http import MetricsHTTPServer
from edgetier.wire.net import ListenError, advertised_host, host_port
from edgetier.wire.rpc import add_servicer
from edgetier.wire.tls import add_port
from npu_sim.predictor import Predictor, load_predictor

log = logging.getLogger(__name__)
SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["DeviceAgent"].full_name
# After the nodes have drained, how long the handlers get to send the last replies.
REPLY_GRACE_S = 1.0


class AgentStartError(RuntimeError):
    """The agent could not start (a port is taken); `flag` names the option to change."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(message)
        self.flag = flag


class AgentServer:
    """A running agent. `grpc_address` and `metrics_url` are what it actually bound."""

    def __init__(
        self,
        *,
        agent: Agent,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        metrics_http: MetricsHTTPServer,
        registrar: Registrar | None,
        grpc_address: str,
        metrics_url: str,
    ) -> None:
        self.agent = agent
        self.settings = agent.settings
        self.registrar = registrar
        self.grpc_address = grpc_address
        self.metrics_url = metrics_url
        self._server = server
        self._health = health_servicer
        self._metrics_http = metrics_http
        self._hurry = asyncio.Event()
        self._stopping: asyncio.Task[None] | None = None

    async def stop(self, grace: float | None = None) -> None:
        """Stop gracefully: in-flight requests get `grace` real seconds (default: the
        settings' grace_s) to finish. Idempotent; concurrent calls wait for the first."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(grace))
        await asyncio.shield(self._stopping)

    def hurry(self) -> None:
        """Cut a running graceful stop short (a second Ctrl-C): abandon in-flight requests."""
        self._hurry.set()

    async def _stop(self, grace: float | None) -> None:
        loop = asyncio.get_running_loop()
        grace = self.settings.grace_s if grace is None else grace
        deadline = loop.time() + grace
        self.agent.stop_accepting()
        await self._health.enter_graceful_shutdown()
        if self.registrar is not None:
            await self.registrar.close()
        if self.agent.in_flight:
            log.info(
                "stopping: waiting up to %gs for %d in-flight requests",
                grace,
                self.agent.in_flight,
            )
        drain = asyncio.ensure_future(self.agent.drain(max(0.0, deadline - loop.time())))
        hurry = asyncio.ensure_future(self._hurry.wait())
        await asyncio.wait({drain, hurry}, return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        drained = drain.done() and drain.result()
        drain.cancel()
        if not drained:
            log.warning(
                "stopping with %d requests still in flight after the grace period",
                self.agent.in_flight,
            )
        # The metrics server takes up to half a second to notice: close both at once.
        await asyncio.gather(
            self._server.stop(REPLY_GRACE_S if drained else 0),
            asyncio.to_thread(self._metrics_http.close),
        )
        await self.agent.close()
        log.info("agent %s stopped", self.agent.name)


async def serve(settings: AgentSettings, predictor: Predictor | None = None) -> AgentServer:
    """Validate `settings`, start the agent on the running loop and return it once serving.

    Raises config.SettingsError for settings that cannot work, AgentStartError if a port
    cannot be bound.
    """
    predictor = predictor or load_predictor(settings.catalog)
    config.validate(settings, predictor)
    loop = asyncio.get_running_loop()
    metrics = AgentMetrics(settings.group.tier, settings.group.models)
    agent = Agent(settings, predictor, metrics)
    metrics.watch_nodes(loop_bound(loop, agent.describe))

    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a taken --port is an error, not a shared port
        ]
    )
    add_servicer(
        DeviceAgentServicer(agent), server, agent_pb2.DESCRIPTOR.services_by_name["DeviceAgent"]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = host_port(settings.host, settings.port)
    try:
        port = add_port(server, address, settings.tls, require_client_auth=True)
    except ListenError as exc:
        raise AgentStartError("--port", str(exc)) from None
    try:
        metrics_http = MetricsHTTPServer(settings.host, settings.metrics_port, metrics.registry)
    except ListenError as exc:
        await server.stop(None)
        raise AgentStartError("--metrics-port", str(exc)) from None

    agent.start()
    await server.start()
    for service in ("", SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    host = advertised_host(settings.host)
    grpc_address = host_port(host, port)
    metrics_url = f"http://{host_port(host, metrics_http.port)}/metrics"

    registrar = None
    if settings.register:

        def nodes() -> list[common_pb2.NodeInfo]:
            state = "up" if agent.accepting else "down"  # draining: the farewell heartbeat
            return [
                convert.node_info(node, settings.name, settings.group.tier, state)
                for node in agent.describe()
            ]

        registrar = Registrar(
            agent=settings.name,
            orchestrator=settings.orchestrator,
            token=settings.token,
            address=grpc_address,
            metrics_url=metrics_url,
            nodes=nodes,
            rpc_timeout_s=settings.rpc_timeout_s,
            retry_initial_s=settings.retry_initial_s,
            retry_cap_s=settings.retry_cap_s,
            unauthenticated_retry_s=settings.unauthenticated_retry_s,
            default_heartbeat_s=settings.default_heartbeat_s,
            tls=settings.tls,
        )
        registrar.start()
    log.info(
        "agent %s: %d %s node(s) on %s (%s) serving %s; gRPC %s, metrics %s, time scale %g",
        settings.name,
        settings.group.nodes,
        settings.group.tier,
        settings.group.hardware,
        ", ".join(f"{m}:{p}" for m, p in settings.group.models.items()),
        "registering with " + settings.orchestrator if settings.register else "standalone",
        grpc_address,
        metrics_url,
        settings.time_scale,
    )
    return AgentServer(
        agent=agent,
        server=server,
        health_servicer=health_servicer,
        metrics_http=metrics_http,
        registrar=registrar,
        grpc_address=grpc_address,
        metrics_url=metrics_url,
    )


def listening_line(server: AgentServer) -> str:
    """The one JSON line a launcher reads to learn where the agent listens."""
    event: dict[str, Any] = {
        "event": "listening",
        "agent": server.settings.name,
        "grpc": server.grpc_address,
        "metrics": server.metrics_url,
        "nodes": server.settings.group.nodes,
    }
    return json.dumps(event)


async def run(settings: AgentSettings) -> int:
    """Process main: serve until SIGTERM or SIGINT, then stop gracefully. Exit status."""
    try:
        server = await serve(settings)
    except AgentStartError as exc:  # one line, the last of the log a launcher reads
        print(f"edgetier agent: argument {exc.flag}: {exc} (0: any free port)", file=sys.stderr)
        return 1
    print(listening_line(server), flush=True)
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        if signalled.is_set():
            log.warning("%s again: abandoning in-flight requests", signum.name)
            server.hurry()
            return
        log.info("%s: stopping (grace %gs)", signum.name, settings.grace_s)
        signalled.set()

    handled = (signal.SIGTERM, signal.SIGINT)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await signalled.wait()
        await server.stop()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    return 0
