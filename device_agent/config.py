"""What one agent process is: its settings, and their validation against the npu_sim catalog.

Settings are checked before anything binds a port, so a typo in `--models` is a one-line error
naming the flag and the valid values (the CLI turns `SettingsError` into exit status 2), never a
half-started server or a node that rejects every request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from edgetier.wire.auth import default_token
from edgetier.wire.tls import TlsConfig
from npu_sim.catalog import UnknownNameError
from npu_sim.engine import DEFAULT_MAX_BATCH, DEFAULT_QUEUE_CAPACITY
from npu_sim.hardware import TIERS, Tier
from npu_sim.memory import memory_need
from npu_sim.predictor import Predictor

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ORCHESTRATOR = "127.0.0.1:50051"
# Requests are a few small fields; a large message is a mistake or an attack, not a prompt.
MAX_RECEIVE_MESSAGE_BYTES = 1 << 20
# Agent names become node ids and metric label values: keep them short and unsurprising.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


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
    tier: Tier
    hardware: str
    models: dict[str, str]  # model id -> precision, served by every node
    nodes: int = 1
    queue_capacity: int = DEFAULT_QUEUE_CAPACITY
    max_batch: int = DEFAULT_MAX_BATCH
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

    def node_ids(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.nodes)]


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
    """Raise `SettingsError` for the first setting that cannot work, naming the valid values."""
    if not _NAME.match(settings.name):
        raise SettingsError(
            "--name",
            f"{settings.name!r} must be 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    if settings.tier not in TIERS:
        raise SettingsError("--tier", f"unknown tier {settings.tier!r}; valid: {', '.join(TIERS)}")
    catalog = predictor.catalog
    try:
        hardware = catalog.hardware(settings.hardware)
    except UnknownNameError as exc:
        raise SettingsError("--hardware", str(exc)) from None
    _positive("--nodes", settings.nodes)
    _positive("--queue-capacity", settings.queue_capacity)
    _positive("--max-batch", settings.max_batch)
    if not settings.models:
        raise SettingsError("--models", "at least one MODEL:PRECISION is required")
    unknown = set(settings.slowdown) - set(settings.node_ids())
    if unknown:
        raise SettingsError(
            "--slowdown", f"no node {sorted(unknown)[0]!r}; nodes: {', '.join(settings.node_ids())}"
        )
    for model_id, precision_id in settings.models.items():
        try:
            model = catalog.model(model_id)
            precision = catalog.precision(precision_id)
            predictor.costs(hardware.id, model_id, precision_id)
        except UnknownNameError as exc:
            raise SettingsError("--models", str(exc)) from None
        except ValueError as exc:  # the chip has no compute rate for the precision
            raise SettingsError("--models", f"{model_id}:{precision_id}: {exc}") from None
        need = memory_need(hardware, model, precision, context_tokens=2)
        if not need.fits:
            raise SettingsError(
                "--models",
                f"{model_id}:{precision_id} fits no node on {hardware.id} ({need.explain()}); "
                f"models that fit at {precision_id}: "
                + ", ".join(_fitting(predictor, hardware.id, precision_id)),
            )
    for flag, value in (("--time-scale", settings.time_scale), ("--grace-s", settings.grace_s)):
        if not (math.isfinite(value) and value >= 0):
            raise SettingsError(flag, f"must be a finite number >= 0, got {value}")
    for flag, port in (("--port", settings.port), ("--metrics-port", settings.metrics_port)):
        if not 0 <= port <= 65535:
            raise SettingsError(flag, f"must be 0 (any free port) to 65535, got {port}")


def _positive(flag: str, value: int) -> None:
    if value < 1:
        raise SettingsError(flag, f"must be at least 1, got {value}")


def _fitting(predictor: Predictor, hardware_id: str, precision_id: str) -> list[str]:
    catalog = predictor.catalog
    hardware, precision = catalog.hardware(hardware_id), catalog.precision(precision_id)
    return [
        model.id
        for model in catalog.models_by_id.values()
        if memory_need(hardware, model, precision, context_tokens=2).fits
    ] or ["none"]
