"""The stack a launcher starts (`edgetier up --config FILE`): an orchestrator and its agents.

Validated on load into plain dataclasses; errors name the file, field and line
(npu_sim.datafile), and every hardware, model and precision id is checked against the catalog
before any process starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import pydantic
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat

from npu_sim import datafile
from npu_sim.datafile import STRICT
from npu_sim.predictor import load_predictor
from routing.groups import GroupName, NodeGroup, group_problems
from routing.network import LinkOverrides
from routing.policies import DEFAULT_POLICY
from routing.specs import PolicyEntry, PolicyError, PolicySpec

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "local.yaml"
#: The JSON Schema of stack files (`edgetier sim schema --stack` regenerates it; a test compares).
SCHEMA_FILE = Path(__file__).parent / "configs" / "stack.schema.json"
RAY_RESOURCE_PREFIX = "edgetier_"
"""`edgetier up --ray` places a tier's agents on Ray nodes offering `edgetier_<tier>`."""
Port = Annotated[int, pydantic.Field(ge=0, le=65535)]


@STRICT
@dataclass(frozen=True)
class OrchestratorConfig:
    """The orchestrator process: where it listens and how it routes."""

    port: Port = 50051
    """Its gRPC port, what clients dial (0: any free port)."""
    metrics_port: Port = 0
    """Its Prometheus /metrics port (0: any free port)."""
    policy: PolicyEntry = field(default_factory=lambda: PolicySpec(DEFAULT_POLICY))
    """The default routing policy: a built-in name, {name: NAME, options: {...}} or {class:
    package.module:Class, options: {...}} (default: device-first)."""
    policies: list[PolicyEntry] = field(default_factory=list)
    """More policies requests may name by label (the built-ins always are), e.g. a scenario's."""
    seed: NonNegativeInt = 0
    """Seed of the policies' randomness and of the answers' quality draws (`edgetier
    orchestrator --seed`): a scenario's seed makes live replies carry the quality figures its
    simulation records."""
    attempt_floor_s: NonNegativeFloat = 2.0
    """Real seconds an attempt on a node gets at least before it escalates as a timeout."""


@STRICT
@dataclass(frozen=True)
class AgentConfig(NodeGroup):
    """One agent process: a node group (routing.groups) with a name, as a scenario's topology
    entry is one with its key."""

    name: GroupName = field(kw_only=True)
    """The agent's name; its nodes are `<name>-0`, `<name>-1`, ..."""
    ray_resources: dict[str, PositiveFloat] | None = field(default=None, kw_only=True)
    """Ray custom resources the agent's actor needs (`edgetier up --ray`): which nodes may
    host it. None: one unit of `edgetier_<tier>`, so a node started with `--resources
    '{"edgetier_edge": 2}'` takes two edge agents."""

    def __post_init__(self) -> None:
        if self.ray_resources is not None and not self.ray_resources:
            raise ValueError("ray_resources: name at least one resource, or leave it out")

    @property
    def placement(self) -> dict[str, float]:
        """The Ray resources that place this agent: `ray_resources`, else its tier's default."""
        if self.ray_resources is not None:
            return dict(self.ray_resources)
        return {f"{RAY_RESOURCE_PREFIX}{self.tier}": 1.0}


@STRICT
@dataclass(frozen=True)
class StackConfig:
    """What `edgetier up --config FILE` starts: an orchestrator and its agents."""

    agents: list[AgentConfig]
    """The agent processes, each hosting one node group."""
    orchestrator: OrchestratorConfig = field(default_factory=OrchestratorConfig)
    """The orchestrator's settings."""
    time_scale: NonNegativeFloat = 1.0
    """Real seconds per modelled second (0.1: ten times faster; 0: no waits at all)."""
    host: str = "127.0.0.1"
    """The address every process binds (0.0.0.0 lets other machines in)."""
    catalog: list[str] = field(default_factory=list)
    """Catalog files (users' chips and models), relative to the stack file."""
    network: LinkOverrides = field(default_factory=dict)
    """Changes to the orchestrator's links from a device to the edge and the cloud tiers, as a
    scenario's `network:`."""

    def __post_init__(self) -> None:
        names = [agent.name for agent in self.agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agents: names must be unique, got {names}")

    @property
    def node_count(self) -> int:
        return sum(agent.nodes for agent in self.agents)


def load_config(path: Path = DEFAULT_CONFIG, extra_catalogs: Sequence[Path] = ()) -> StackConfig:
    """Load and validate a stack file, its agents against its catalog too (the shipped one, its
    `catalog:` files and `extra_catalogs`); raises npu_sim.datafile.DataFileError naming the
    file, line and field."""
    data, node = datafile.parse_yaml(path)
    config: StackConfig = datafile.validate(path, data, node, StackConfig)
    files = [str((path.parent / file).resolve()) for file in config.catalog]
    files += [str(file.resolve()) for file in extra_catalogs]
    config = replace(config, catalog=files)
    predictor = load_predictor([Path(file) for file in files])
    problems = [
        (("agents", i, *where), message)
        for i, agent in enumerate(config.agents)
        for where, message in group_problems(agent, predictor)
    ]
    try:
        config.orchestrator.policy.build()
    except PolicyError as exc:
        problems.append((("orchestrator", "policy"), str(exc)))
    for i, spec in enumerate(config.orchestrator.policies):
        try:
            spec.build()
        except PolicyError as exc:
            problems.append((("orchestrator", "policies", i), str(exc)))
    if problems:
        raise datafile.errors_at(path, node, problems)
    return config
