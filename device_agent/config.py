"""What one agent process is: its settings, and their validation against the npu_sim catalog.

Settings are checked before anything binds a port, so a typo in `--models` is a one-line error
naming the flag and the valid values (the CLI turns `SettingsError` into exit status 2), never a
half-started server or a node that rejects every request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from edgetier.wire.auth import default_token
from edgetier.wire.tls import TlsConfig
from npu_sim.predictor import Predictor
from routing.groups import NodeGroup, group_problems, name_problem

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ORCHESTRATOR = "127.0.0.1:50051"
# Requests are a few small fields; a large message is a mistake or an attack, not a prompt.
MAX_RECEIVE_MESSAGE_BYTES = 1 << 20
#: The `edgetier agent` flag that sets each node-group field (launchers build command lines
#: from it, and a problem with a field is reported against its flag).
GROUP_FLAGS: dict[str, str] = {
    "tier": "--tier",
    "hardware": "--hardware",
    "models": "--models",
    "nodes": "--nodes",
    "queue_capacity": "--queue-capacity",
    "max_batch": "--max-batch",
}


class SettingsError(ValueError):
    """A setting that cannot work; `flag` is the command-line option that sets it."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(message)
        self.flag = flag


@dataclass(frozen=True)
class AgentSettings:
    """Everything one agent process needs; one tier, one chip, `nodes` identical nodes.

    The retry and timeout fields have no flags: they exist so tests and launchers can shrink
    them, and their defaults are what a real deployment wants.
    """

    name: str
    group: NodeGroup  # what the agent hosts: its nodes are `<name>-<i>`
    time_scale: float = 1.0  # real seconds per modelled second; 0 = do not wait at all
    host: str = DEFAULT_HOST
    port: int = 0
    metrics_port: int = 0
    orchestrator: str = DEFAULT_ORCHESTRATOR
    token: str = field(default_factory=default_token, repr=False)  # never in logs or reprs
    register: bool = True
    grace_s: float = 10.0
    dedupe_capacity: int = 10_000
    rpc_timeout_s: float = 5.0  # deadline of every call to the orchestrator
    retry_initial_s: float = 0.5  # backoff while the orchestrator is unreachable ...
    retry_cap_s: float = 10.0  # ... doubling up to this
    unauthenticated_retry_s: float = 30.0  # a wrong token will not fix itself quickly
    default_heartbeat_s: float = 5.0  # when the orchestrator does not say
    # Serve TLS (mutual once it has a CA); dial the orchestrator in TLS.
    tls: TlsConfig | None = None
    # Fault injection: node id -> factor its every activity is slowed by (a "slow node").
    slowdown: dict[str, float] = field(default_factory=dict)
    # Catalog files (users' chips and models) beside the shipped catalog.
    catalog: tuple[Path, ...] = ()

    def node_ids(self) -> list[str]:
        return self.group.node_ids(self.name)


def parse_models(text: str) -> dict[str, str]:
    """`qwen2-0.5b:w8a16,yolov8s:w8a8` -> {model: precision}; syntax only (see `validate`)."""
    models: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        model, sep, precision = item.partition(":")
        if not sep or not model or not precision:
            raise SettingsError(
                "--models", f"expected MODEL:PRECISION pairs separated by commas, got {item!r}"
            )
        if model in models:
            raise SettingsError("--models", f"{model} is listed twice")
        models[model] = precision
    return models


def validate(settings: AgentSettings, predictor: Predictor) -> None:
    """Raise `SettingsError` for the first setting that cannot work, naming its flag and the
    valid values."""
    problem = name_problem(settings.name)
    if problem is not None:
        raise SettingsError("--name", problem)
    group = settings.group
    for flag, value in (
        ("--nodes", group.nodes),
        ("--queue-capacity", group.queue_capacity),
        ("--max-batch", group.max_batch),
    ):
        _positive(flag, value)
    for where, message in group_problems(group, predictor):
        raise SettingsError(GROUP_FLAGS[str(where[0])], message)
    unknown = set(settings.slowdown) - set(settings.node_ids())
    if unknown:
        raise SettingsError(
            "--slowdown", f"no node {sorted(unknown)[0]!r}; nodes: {', '.join(settings.node_ids())}"
        )
    for flag, value in (("--time-scale", settings.time_scale), ("--grace-s", settings.grace_s)):
        if not (math.isfinite(value) and value >= 0):
            raise SettingsError(flag, f"must be a finite number >= 0, got {value}")
    for flag, port in (("--port", settings.port), ("--metrics-port", settings.metrics_port)):
        if not 0 <= port <= 65535:
            raise SettingsError(flag, f"must be 0 (any free port) to 65535, got {port}")


def group_args(group: NodeGroup) -> list[str]:
    """The `edgetier agent` flags that host `group` (the inverse of the CLI's parsing)."""
    models = ",".join(f"{model}:{precision}" for model, precision in group.models.items())
    values = {**vars(group), "models": models}
    return [arg for name, flag in GROUP_FLAGS.items() for arg in (flag, str(values[name]))]


def _positive(flag: str, value: int) -> None:
    if value < 1:
        raise SettingsError(flag, f"must be at least 1, got {value}")
