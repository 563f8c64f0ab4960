"""What every launcher of the stack does the same way, whatever runs the agents.

A stack starts the orchestrator as a local child (one gRPC address for clients, wherever the
agents are), then the agents (a launcher's one job: `LocalStack` as local processes, `RayStack`
as Ray actors), waits until the orchestrator sees every node up, and, when asked, starts a local
Prometheus that discovers all of them through the file_sd targets the orchestrator writes. On
exit it stops everything it started, last started first.

The agent and orchestrator command lines live here too (`agent_args`, `orchestrator_args`), so
that a process starts the same way under every launcher, in the tests and in the benchmarks.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from deploy.config import AgentConfig, StackConfig
from deploy.monitoring import prepare, prometheus_binary, start_prometheus
from deploy.processes import (
    READY_TIMEOUT_S,
    STOP_GRACE_S,
    Child,
    LaunchError,
    Member,
    await_listening,
    edgetier_argv,
    edgetier_env,
    spawn,
    stop_members,
)
from device_agent.config import group_args
from edgetier.wire.auth import default_token
from edgetier.wire.tls import TlsConfig
from orchestrator.client import OrchestratorClient
from routing.network import link_text
from routing.specs import PolicySpec

ENDPOINT_EXTRAS = ("url", "ray_node_ip", "ray_node_id", "pid")
"""Listening-line keys that `endpoints()` passes on when a member has them."""


@dataclass
class Stack(ABC):
    """A running stack: `children` are its members in start order (the orchestrator first, then
    the agents, then Prometheus if `prometheus_port` is set). Use it as a context manager, or
    call `start` and `stop`; a failed `start` stops what it had started and raises."""

    config: StackConfig
    port: int | None = None  # override of the orchestrator's gRPC port (0: any free port)
    sd_dir: Path | None = None  # where the orchestrator writes Prometheus file_sd targets
    log_dir: Path | None = None  # children's logs (default: a temporary folder, see `stop`)
    token: str = field(default_factory=default_token, repr=False)
    prometheus_port: int | None = None  # start a local Prometheus on it (0: any free port)
    tls: TlsConfig | None = None  # every process serves and dials TLS with these files
    children: list[Member] = field(default_factory=list)
    _temporary_logs: bool = field(default=False, init=False, repr=False)

    @property
    def orchestrator(self) -> Child:
        first = self.children[0]
        assert isinstance(first, Child) and first.kind == "orchestrator"
        return first

    @property
    def address(self) -> str:
        """The orchestrator's gRPC address."""
        return str(self.orchestrator.ready["grpc"])

    @property
    def prometheus_url(self) -> str | None:
        return next((str(c.ready["url"]) for c in self.children if c.kind == "prometheus"), None)

    def start(self) -> Stack:
        if self.prometheus_port is not None and self.sd_dir is not None:
            raise ValueError("with a Prometheus the targets go to its run dir: drop sd_dir")
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="edgetier-"))
            self._temporary_logs = True
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            prometheus = None
            if self.prometheus_port is not None:
                prometheus = prometheus_binary()  # before anything starts: fail fast
                self.sd_dir = prepare(self.log_dir / "prometheus")
            self._connect()
            self._start_orchestrator()
            self._start_agents()
            self._wait_for_nodes()
            if prometheus is not None and self.prometheus_port is not None:
                self.children.append(
                    start_prometheus(
                        prometheus,
                        self.log_dir / "prometheus",
                        self.prometheus_port,
                        self.log_dir / "prometheus.log",
                    )
                )
        except BaseException as exc:
            self.stop(keep_logs=self._points_at_logs(exc))
            raise
        return self

    def endpoints(self) -> list[dict[str, str]]:
        """One row per process: name, kind, gRPC address, /metrics URL, log file; plus the
        Prometheus URL, or where Ray placed an agent, for the members that have them."""
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "grpc": str(c.ready.get("grpc", "")),
                "metrics": str(c.ready.get("metrics", "")),
                "log": c.log,
                **{key: str(c.ready[key]) for key in ENDPOINT_EXTRAS if key in c.ready},
            }
            for c in self.children
        ]

    def exited(self) -> Member | None:
        """The first member that is no longer running, if any."""
        return next((c for c in self.children if not c.alive()), None)

    def stop(self, grace_s: float = STOP_GRACE_S, keep_logs: bool = False) -> None:
        """Stop every member, last started first: SIGTERM, then SIGKILL after `grace_s`. A
        temporary log folder (no `log_dir` given) goes with them, unless `keep_logs`: when
        something failed and a message sends the user to a log."""
        stop_members(self.children, grace_s)
        self.children.clear()
        if self._temporary_logs and not keep_logs and self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self._temporary_logs = False

    def _points_at_logs(self, error: BaseException) -> bool:
        return self.log_dir is not None and str(self.log_dir) in str(error)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop(keep_logs=exc is not None and self._points_at_logs(exc))

    # -- what launchers differ in --------------------------------------------------------------

    def _connect(self) -> None:
        """Set up what the agents run on, before anything starts (local agents need nothing)."""
        return

    @abstractmethod
    def _start_agents(self) -> None:
        """Start every agent of the config, registering with `self.address`; each joins
        `children` as soon as it exists, so that `stop` cleans up after a failed start."""

    # -- shared internals ----------------------------------------------------------------------

    def _spawn_local(self, name: str, kind: str, args: list[str]) -> Child:
        """Start `edgetier ARGS` here, to die with this process (and the thread starting it:
        start stacks from the main thread or one as long-lived); it joins `children` before it
        is ready, so that `stop` cleans it up if it never gets there."""
        assert self.log_dir is not None
        child = spawn(
            name,
            kind,
            edgetier_argv(args),
            self.log_dir / f"{name}.log",
            edgetier_env(self.token),
            die_with_parent=True,
        )
        self.children.append(child)
        return await_listening(child)

    def _start_orchestrator(self) -> None:
        args = orchestrator_args(self.config, self.port, self.sd_dir, self.tls)
        self._spawn_local("orchestrator", "orchestrator", args)

    def _wait_for_nodes(self) -> None:
        expected = self.config.node_count
        deadline = time.monotonic() + READY_TIMEOUT_S
        ca = self.tls.ca if self.tls is not None else None
        with OrchestratorClient(self.address, timeout_s=5.0, tls_ca=ca) as client:
            while True:
                nodes = client.nodes()
                if sum(n["state"] == "up" for n in nodes) >= expected:
                    return
                if time.monotonic() > deadline:
                    raise LaunchError(f"only {len(nodes)} of {expected} nodes registered in time")
                dead = self.exited()
                if dead is not None:
                    raise LaunchError(f"{dead.kind} {dead.name} exited (log {dead.log})")
                time.sleep(0.2)


def orchestrator_args(
    config: StackConfig, port: int | None, sd_dir: Path | None, tls: TlsConfig | None = None
) -> list[str]:
    """The `edgetier orchestrator ...` arguments of `config` (`port` overrides its port)."""
    o = config.orchestrator
    args = [
        "orchestrator",
        "--host",
        config.host,
        "--port",
        str(o.port if port is None else port),
        "--metrics-port",
        str(o.metrics_port),
        *policy_args(o.policy),
        *[
            arg
            for spec in o.policies
            for arg in ("--load-policy", json.dumps(spec.as_file_entry()))
        ],
        "--seed",
        str(o.seed),
        "--attempt-timeout-floor",
        str(o.attempt_floor_s),
        *[arg for tier, to in config.network.items() for arg in ("--link", link_text(tier, to))],
        "--time-scale",
        str(config.time_scale),
        *catalog_args(config.catalog),
    ]
    if sd_dir is not None:
        args += ["--sd-dir", str(sd_dir)]
    return args + (tls.args() if tls is not None else [])


def policy_args(spec: PolicySpec) -> list[str]:
    """The `edgetier orchestrator` flags that load `spec` as its default policy."""
    args = ["--policy", spec.ref]
    for key, value in spec.options.items():
        args += ["--policy-option", f"{key}={json.dumps(value)}"]  # JSON is YAML
    return args


def agent_args(
    agent: AgentConfig,
    orchestrator: str,
    time_scale: float,
    host: str,
    tls: TlsConfig | None = None,
    catalog: Sequence[str] = (),
) -> list[str]:
    """The `edgetier agent ...` arguments that start `agent` against `orchestrator` (with the
    stack's catalog files, absolute paths)."""
    return [
        "agent",
        "--name",
        agent.name,
        *group_args(agent),
        "--time-scale",
        str(time_scale),
        "--host",
        host,
        "--orchestrator",
        orchestrator,
        *catalog_args(catalog),
        *(tls.args() if tls is not None else []),
    ]


def catalog_args(files: Sequence[str]) -> list[str]:
    """The `--catalog` flags that pass a stack's catalog files on to a child process."""
    return [arg for file in files for arg in ("--catalog", file)]
