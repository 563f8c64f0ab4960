"""The agent's side of the orchestrator protocol: Register once, then Heartbeat with telemetry.

An agent must outlive its orchestrator's restarts and outages, so nothing here raises: an
unreachable orchestrator or a failed call is retried with capped exponential backoff (and one
warning per outage on stderr, not one per attempt); a heartbeat answered `known=false` (the
orchestrator restarted and forgot us) triggers a new Register; a wrong token (UNAUTHENTICATED)
is logged as what it is and retried slowly, since only an operator can fix it. Every call has a
deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc

from edgetier.v1 import common_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from edgetier.wire.tls import TlsConfig, aio_channel

log = logging.getLogger(__name__)
# Bounds on the interval the orchestrator asks for: a typo there must not flood it or go silent.
MIN_HEARTBEAT_S = 0.05
MAX_HEARTBEAT_S = 300.0


class Registrar:
    """Keeps one agent registered with one orchestrator. `start` it; `close` it on shutdown."""

    def __init__(
        self,
        *,
        agent: str,
        orchestrator: str,
        token: str,
        address: str,
        metrics_url: str,
        nodes: Callable[[], list[common_pb2.NodeInfo]],
        rpc_timeout_s: float = 5.0,
        retry_initial_s: float = 0.5,
        retry_cap_s: float = 10.0,
        unauthenticated_retry_s: float = 30.0,
        default_heartbeat_s: float = 5.0,
        tls: TlsConfig | None = None,
    ) -> None:
        self._agent = agent
        self._orchestrator = orchestrator
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._address = address
        self._metrics_url = metrics_url
        self._nodes = nodes  # the nodes' NodeInfo now
        self._rpc_timeout_s = rpc_timeout_s
        self._retry_initial_s = retry_initial_s
        self._retry_cap_s = retry_cap_s
        self._unauthenticated_retry_s = unauthenticated_retry_s
        self._interval_s = default_heartbeat_s
        self._channel = aio_channel(orchestrator, tls)
        self._stub = orchestrator_pb2_grpc.OrchestratorStub(self._channel)
        self._task: asyncio.Task[None] | None = None
        self._registered = False
        self._outage: grpc.StatusCode | None = None  # what went wrong, while it lasts
        self.registrations = 0  # successful Register calls (tests, logs)

    @property
    def registered(self) -> bool:
        return self._registered

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="registrar")

    async def close(self) -> None:
        """Stop heartbeating. A registered agent first sends a farewell heartbeat (its nodes
        report state "down" once the agent stops accepting), so the orchestrator routes around
        them at once instead of after the heartbeat timeout; best effort, briefly."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._registered:
            request = orchestrator_pb2.HeartbeatRequest(agent=self._agent, nodes=self._nodes())
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self._stub.Heartbeat(
                    request, metadata=self._metadata, timeout=min(1.0, self._rpc_timeout_s)
                )
        await self._channel.close()

    async def _run(self) -> None:
        backoff = self._retry_initial_s
        while True:
            try:
                if self._registered:
                    await self._heartbeat()
                else:
                    await self._register()
            except grpc.aio.AioRpcError as error:
                delay = self._failed(error, backoff)
                backoff = min(self._retry_cap_s, backoff * 2)
            except Exception:  # a bug must not stop the heartbeats of a serving agent
                log.exception("registration step failed; retrying in %gs", backoff)
                delay = backoff
                backoff = min(self._retry_cap_s, backoff * 2)
            else:
                self._recovered()
                backoff = self._retry_initial_s
                if not self._registered:  # known=false: register again right away
                    continue
                delay = self._interval_s
            await asyncio.sleep(delay)

    async def _register(self) -> None:
        request = orchestrator_pb2.RegisterRequest(
            agent=self._agent,
            address=self._address,
            metrics_url=self._metrics_url,
            nodes=self._nodes(),
        )
        reply = await self._stub.Register(
            request, metadata=self._metadata, timeout=self._rpc_timeout_s
        )
        if reply.heartbeat_interval_s > 0:
            interval = reply.heartbeat_interval_s
            self._interval_s = min(MAX_HEARTBEAT_S, max(MIN_HEARTBEAT_S, interval))
        self._registered = True
        self.registrations += 1
        log.info(
            "registered with the orchestrator at %s as %s (%s); heartbeat every %gs",
            self._orchestrator,
            self._agent,
            self._address,
            self._interval_s,
        )

    async def _heartbeat(self) -> None:
        request = orchestrator_pb2.HeartbeatRequest(agent=self._agent, nodes=self._nodes())
        reply = await self._stub.Heartbeat(
            request, metadata=self._metadata, timeout=self._rpc_timeout_s
        )
        if not reply.known:
            log.info("orchestrator does not know agent %s (restarted?): registering", self._agent)
            self._registered = False

    def _failed(self, error: grpc.aio.AioRpcError, backoff: float) -> float:
        """Log the failure once per outage (and when it changes kind); the delay to retry."""
        code = error.code()
        if code != self._outage:
            if code == grpc.StatusCode.UNAUTHENTICATED:
                log.error(
                    "the orchestrator at %s rejected the agent token (UNAUTHENTICATED: %s); "
                    "check --token or $EDGETIER_AGENT_TOKEN. Retrying every %gs",
                    self._orchestrator,
                    error.details(),
                    self._unauthenticated_retry_s,
                )
            else:
                log.warning(
                    "orchestrator at %s unreachable or failing (%s); the agent keeps serving "
                    "and retries with backoff up to %gs",
                    self._orchestrator,
                    _describe(error),
                    self._retry_cap_s,
                )
            self._outage = code
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return self._unauthenticated_retry_s
        return backoff

    def _recovered(self) -> None:
        if self._outage is not None:
            log.warning("orchestrator at %s reachable again", self._orchestrator)
            self._outage = None


def _describe(error: grpc.aio.AioRpcError) -> str:
    return f"{error.code().name}: {error.details()}"
