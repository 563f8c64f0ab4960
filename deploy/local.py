"""Launching the stack as local processes: the embedded default of `edgetier up`.

`LocalStack` starts the orchestrator, then each agent (all `python -m edgetier ...` children),
reads the one JSON line each prints when it listens, waits until the orchestrator sees every
node up, and on exit stops every child it started (SIGTERM, then SIGKILL after a grace period).
Children's logs go to files in `log_dir`. The demo, the tests and the benchmarks use it too.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from deploy.config import AgentConfig, StackConfig
from orchestrator.client import OrchestratorClient
from orchestrator.server import DEFAULT_AGENT_TOKEN

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


class LaunchError(RuntimeError):
    """A child process failed to start; the message says which and points at its log."""


@dataclass
class Child:
    name: str
    kind: str  # "orchestrator" or "agent"
    process: subprocess.Popen[str]
    log_path: Path
    ready: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalStack:
    config: StackConfig
    port: int | None = None  # override of the orchestrator's gRPC port (0: any free port)
    sd_dir: Path | None = None
    log_dir: Path | None = None
    token: str = DEFAULT_AGENT_TOKEN
    children: list[Child] = field(default_factory=list)

    @property
    def orchestrator(self) -> Child:
        return self.children[0]

    @property
    def address(self) -> str:
        """The orchestrator's gRPC address."""
        return str(self.orchestrator.ready["grpc"])

    def start(self) -> LocalStack:
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="edgetier-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_orchestrator()
            for agent in self.config.agents:
                self._start_agent(agent)
            self._wait_for_nodes()
        except BaseException:
            self.stop()
            raise
        return self

    def endpoints(self) -> list[dict[str, str]]:
        """One row per process: name, kind, gRPC address, /metrics URL, log file."""
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "grpc": str(c.ready.get("grpc", "")),
                "metrics": str(c.ready.get("metrics", "")),
                "log": str(c.log_path),
            }
            for c in self.children
        ]

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop every child, agents first: SIGTERM, then SIGKILL after `grace_s`."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {**os.environ, "EDGETIER_AGENT_TOKEN": self.token, "PYTHONUNBUFFERED": "1"}

    def _start_orchestrator(self) -> None:
        o = self.config.orchestrator
        args = [
            "orchestrator",
            "--host",
            self.config.host,
            "--port",
            str(o.port if self.port is None else self.port),
            "--metrics-port",
            str(o.metrics_port),
            "--policy",
            o.policy,
            "--time-scale",
            str(self.config.time_scale),
        ]
        if self.sd_dir is not None:
            args += ["--sd-dir", str(self.sd_dir)]
        self._spawn("orchestrator", "orchestrator", args)

    def _start_agent(self, agent: AgentConfig) -> None:
        args = agent_args(agent, self.address, self.config.time_scale, self.config.host)
        self._spawn(agent.name, "agent", args)

    def restart_agent(self, name: str) -> Child:
        """Kill the agent `name` if it still runs and start it again with the same settings
        (the orchestrator sees it re-register); returns its new child."""
        old = next(c for c in self.children if c.kind == "agent" and c.name == name)
        if old.process.poll() is None:
            old.process.kill()
            old.process.wait()
        self.children.remove(old)
        self._start_agent(next(a for a in self.config.agents if a.name == name))
        return self.children[-1]

    def _spawn(self, name: str, kind: str, args: list[str]) -> None:
        assert self.log_dir is not None
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("w", encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "edgetier", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=self._env(),
            start_new_session=True,  # Ctrl-C reaches us; we stop the children
        )
        log.close()
        child = Child(name, kind, process, log_path)
        self.children.append(child)
        child.ready = first_json_line(process.stdout, READY_TIMEOUT_S)  # type: ignore[arg-type]
        if not child.ready:
            tail = log_path.read_text(encoding="utf-8")[-2000:]
            raise LaunchError(f"{kind} {name} did not start (log {log_path}):\n{tail}")

    def _wait_for_nodes(self) -> None:
        expected = self.config.node_count
        deadline = time.monotonic() + READY_TIMEOUT_S
        with OrchestratorClient(self.address, timeout_s=5.0) as client:
            while True:
                nodes = client.nodes()
                if sum(n["state"] == "up" for n in nodes) >= expected:
                    return
                if time.monotonic() > deadline:
                    raise LaunchError(f"only {len(nodes)} of {expected} nodes registered in time")
                for child in self.children:
                    if child.process.poll() is not None:
                        raise LaunchError(
                            f"{child.kind} {child.name} exited (log {child.log_path})"
                        )
                time.sleep(0.2)


def agent_args(agent: AgentConfig, orchestrator: str, time_scale: float, host: str) -> list[str]:
    """The `edgetier agent ...` arguments that start `agent` against `orchestrator`."""
    return [
        "agent",
        "--name",
        agent.name,
        "--tier",
        agent.tier,
        "--hardware",
        agent.hardware,
        "--nodes",
        str(agent.nodes),
        "--models",
        ",".join(f"{m}:{p}" for m, p in agent.models.items()),
        "--queue-capacity",
        str(agent.queue_capacity),
        "--max-batch",
        str(agent.max_batch),
        "--time-scale",
        str(time_scale),
        "--host",
        host,
        "--orchestrator",
        orchestrator,
    ]


def first_json_line(stream: IO[str], timeout_s: float) -> dict[str, Any]:
    """The first JSON object a child prints, or {} if it exits or stays silent; later output
    is drained in the background so the child never blocks on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        first = True
        for line in stream:
            if first:
                lines.put(line)
                first = False
        if first:
            lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=timeout_s)
    except queue.Empty:
        return {}
    if line is None:
        return {}
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
