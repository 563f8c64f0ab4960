"""`edgetier up --ray`: the same stack, with every agent on a Ray node chosen by its resources.

The orchestrator (and Prometheus, if asked) stay local children of the launching process, so
clients keep one gRPC address. Each agent becomes a Ray actor (`AgentProcess`) that asks for the
agent's resources (`AgentConfig.placement`: one `edgetier_<tier>` by default, no CPU), so Ray
puts device agents on nodes started with `--resources '{"edgetier_device": N}'`, edge agents on
`edgetier_edge` nodes and cloud agents on `edgetier_cloud` nodes. The actor starts the very
command line `LocalStack` uses (`python -m edgetier agent ...`) as a child on its node, reads its
listening line and reports it with the node's Ray id and IP.

Nothing outlives the launcher: the agent child is stopped through its actor (SIGTERM, then
SIGKILL), dies with the actor's process if that is killed (PR_SET_PDEATHSIG), and the actors are
owned by this driver, so Ray ends them if the launcher dies. A Ray the stack started itself
(`ray_address="local"`) is shut down with it; one it merely connected to is left running.

Addresses: with the default loopback `host` everything must be on one machine (a local Ray, or
a test cluster). On a real cluster bind beyond loopback explicitly (`host="0.0.0.0"`, the CLI's
`--host`): the orchestrator then listens on all interfaces, agents dial it at the launcher's
Ray node IP, and each agent binds its own node's Ray IP, which is what it registers.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.config import AgentConfig
from deploy.processes import (
    READY_TIMEOUT_S,
    STOP_GRACE_S,
    Child,
    LaunchError,
    await_listening,
    edgetier_argv,
    edgetier_env,
    spawn,
)
from deploy.stack import Stack, agent_args
from edgetier.wire.net import WILDCARD_HOSTS

LOCAL = "local"
"""`ray_address` meaning: start a Ray on this machine offering every resource the agents need."""
NAMESPACE = "edgetier"
CALL_TIMEOUT_S = 10.0


class AgentProcess:
    """Lives in a Ray actor on the node Ray chose: starts, watches and stops one agent there.

    A plain class, made an actor by `RayStack` (ray.remote at run time): importing this module
    does not import Ray. Its methods run on the actor's main thread, the thread that starts the
    agent, which is what PR_SET_PDEATHSIG (spawn's `die_with_parent`) needs.
    """

    def __init__(self) -> None:
        self.child: Child | None = None

    def start(
        self,
        agent: AgentConfig,
        orchestrator: str,
        time_scale: float,
        host: str,
        token: str,
        log_dir: str,
        catalog: list[str],
    ) -> dict[str, Any]:
        """Start the agent and wait for its listening line; returns it with the node's Ray id
        and IP, the agent's pid and log, or {"error": ...} if it did not start. Catalog files
        are read on the agent's node: they must be at the same path on every node."""
        import ray

        node_ip = ray.util.get_node_ip_address()
        bind = node_ip if host in WILDCARD_HOSTS else host
        args = agent_args(agent, orchestrator, time_scale, bind, catalog=catalog)
        child = spawn(
            agent.name,
            "agent",
            edgetier_argv(args),
            Path(log_dir) / f"{agent.name}.log",
            edgetier_env(token),
            die_with_parent=True,
        )
        self.child = child
        placement = {"ray_node_id": ray.get_runtime_context().get_node_id(), "ray_node_ip": node_ip}
        try:
            await_listening(child)
        except LaunchError as exc:
            child.kill()
            return {"error": f"{exc} (on Ray node {node_ip})", **placement}
        return {**child.ready, **placement, "pid": child.process.pid, "log": child.log}

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def terminate(self) -> None:
        if self.child is not None:
            self.child.terminate()

    def wait(self, timeout_s: float) -> bool:
        return self.child is None or self.child.wait(timeout_s)

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()


@dataclass
class RayAgent:
    """The launcher's handle on one agent actor: a stack member like a local child."""

    name: str
    actor: Any  # ray.actor.ActorHandle
    ready: dict[str, Any]
    kind: str = "agent"

    @property
    def log(self) -> str:
        """The agent's log file, on the node it runs on."""
        return f"{self.ready.get('ray_node_ip', '?')}:{self.ready.get('log', '')}"

    def alive(self) -> bool:
        import ray

        try:
            return bool(ray.get(self.actor.alive.remote(), timeout=CALL_TIMEOUT_S))
        except (ray.exceptions.RayError, TimeoutError):
            return False  # the actor (or its node) is gone, and the agent with it

    def terminate(self) -> None:
        import ray

        with contextlib.suppress(ray.exceptions.RayError):
            self.actor.terminate.remote()

    def wait(self, timeout_s: float) -> bool:
        import ray

        timeout_s = max(0.0, timeout_s)
        try:
            return bool(
                ray.get(self.actor.wait.remote(timeout_s), timeout=timeout_s + CALL_TIMEOUT_S)
            )
        except ray.exceptions.RayActorError:
            return True  # the actor died, and PR_SET_PDEATHSIG took the agent with it
        except (ray.exceptions.RayError, TimeoutError):
            return False

    def kill(self) -> None:
        import ray

        with contextlib.suppress(ray.exceptions.RayError, TimeoutError):
            ray.get(self.actor.kill.remote(), timeout=CALL_TIMEOUT_S)
        ray.kill(self.actor, no_restart=True)


@dataclass
class RayStack(Stack):
    """The orchestrator here, each agent in a Ray actor placed by the agent's resources.

    `ray_address`: "local" starts a Ray on this machine (offering every resource the agents
    ask for) and shuts it down on stop; anything else (host:port, "auto", ray://...) is passed
    to ray.init to join an existing cluster. If Ray is already initialised in this process
    (a test, a notebook), the stack uses that connection and leaves it open.
    """

    ray_address: str = LOCAL
    _actors: list[Any] = field(default_factory=list, init=False, repr=False)
    _owns_ray: bool = field(default=False, init=False, repr=False)

    def stop(self, grace_s: float = STOP_GRACE_S, keep_logs: bool = False) -> None:
        """Stop the agents through their actors and the local children, end the actors, then
        disconnect from Ray (shutting down a Ray this stack started)."""
        super().stop(grace_s, keep_logs)
        if not self._actors and not self._owns_ray:
            return
        import ray

        for actor in self._actors:
            with contextlib.suppress(ray.exceptions.RayError):
                ray.kill(actor, no_restart=True)
        self._actors.clear()
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise LaunchError(
                "Ray is not installed: pip install 'edgetier[ray]' (or 'ray[default]')"
            ) from None
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "namespace": NAMESPACE,
                "log_to_driver": False,  # stdout stays ours (`edgetier up --json`)
                "logging_level": logging.WARNING,
            }
            if self.ray_address == LOCAL:
                options |= {
                    "address": LOCAL,
                    "include_dashboard": False,
                    "resources": self._needed(),
                }
            else:
                options["address"] = self.ray_address
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise LaunchError(f"cannot start or join Ray at {self.ray_address}: {exc}") from exc
            self._owns_ray = True
        offered = ray.cluster_resources()
        short = {name: n for name, n in self._needed().items() if offered.get(name, 0.0) < n}
        if short:
            raise LaunchError(
                "no Ray nodes offer enough of what the agents ask for: "
                + ", ".join(f"{n:g} {k} (cluster: {offered.get(k, 0):g})" for k, n in short.items())
                + "; start nodes with e.g. ray start --address ADDRESS --resources "
                "'{\"edgetier_edge\": 1}' (README: running on Ray)"
            )

    def _start_agents(self) -> None:
        """Create every agent's actor at once and let them start in parallel."""
        import ray

        assert self.log_dir is not None
        actor_class = ray.remote(AgentProcess)
        orchestrator = self._orchestrator_for_agents()
        pending = []
        for agent in self.config.agents:
            name = f"edgetier-agent-{agent.name}"
            try:
                actor = actor_class.options(  # type: ignore[attr-defined]
                    name=name,
                    namespace=NAMESPACE,
                    num_cpus=0,  # the agent process is not Ray work: place it, reserve no CPU
                    resources=agent.placement,
                    max_restarts=0,
                ).remote()
            except ValueError as exc:  # the name is taken
                raise LaunchError(
                    f"agent {agent.name}: {exc} (is another stack with an agent of that name "
                    f"running on this cluster? see `ray list actors --filter name={name}`)"
                ) from None
            self._actors.append(actor)
            started = actor.start.remote(
                agent,
                orchestrator,
                self.config.time_scale,
                self.config.host,
                self.token,
                str(self.log_dir),
                self.config.catalog,
            )
            pending.append((agent, actor, started))
        deadline = time.monotonic() + READY_TIMEOUT_S
        for agent, actor, started in pending:
            try:
                ready = ray.get(started, timeout=max(0.0, deadline - time.monotonic()))
            except (ray.exceptions.GetTimeoutError, TimeoutError):
                raise LaunchError(
                    f"agent {agent.name}: not started within {READY_TIMEOUT_S:g}s; does a Ray "
                    f"node with free {agent.placement} exist?"
                ) from None
            except ray.exceptions.RayError as exc:
                raise LaunchError(f"agent {agent.name}: its Ray actor failed: {exc}") from exc
            if "error" in ready:
                raise LaunchError(str(ready["error"]))
            self.children.append(RayAgent(agent.name, actor, ready))

    def _orchestrator_for_agents(self) -> str:
        """The orchestrator address agents dial: a wildcard bind is not an address, so they get
        this node's Ray IP with the bound port."""
        host, _, port = self.address.rpartition(":")
        if host not in WILDCARD_HOSTS:
            return self.address
        import ray

        return f"{ray.util.get_node_ip_address()}:{port}"

    def _needed(self) -> dict[str, float]:
        """Every Ray resource the agents ask for, summed."""
        needed: dict[str, float] = {}
        for agent in self.config.agents:
            for name, amount in agent.placement.items():
                needed[name] = needed.get(name, 0.0) + amount
        return needed
