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
from pydantic import NonNegativeFloat, PositiveFloat

from npu_sim import datafile
from npu_sim.predictor import load_predictor
from routing.groups import GroupName, NodeGroup, group_problems
from routing.policies import DEFAULT_POLICY
from routing.specs import PolicyEntry, PolicyError, PolicySpec

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "local.yaml"
RAY_RESOURCE_PREFIX = "edgetier_"
"""`edgetier up --ray` places a tier's agents on Ray nodes offering `edgetier_<tier>`."""
Port = Annotated[int, pydantic.Field(ge=0, le=65535)]


@dataclass(frozen=True)
class OrchestratorConfig:
    port: Port = 50051
    metrics_port: Port = 0
    # A built-in name, or {name: NAME | class: module:Class, options: {...}} (routing.specs).
    policy: PolicyEntry = field(default_factory=lambda: PolicySpec(DEFAULT_POLICY))
    # The policies' randomness and the answers' quality draws (`edgetier orchestrator --seed`):
    # a scenario's seed makes live replies carry the quality figures its simulation records.
    seed: int = 0


@dataclass(frozen=True)
class AgentConfig(NodeGroup):
    """One agent process: a node group (routing.groups) with a name, as a scenario's topology
    entry is one with its key."""

    name: GroupName = field(kw_only=True)
    # Ray custom resources the agent's actor needs (`edgetier up --ray`): which nodes may host
    # it. None: one unit of `edgetier_<tier>`, so a node started with
    # `--resources '{"edgetier_edge": 2}'` takes two edge agents.
    ray_resources: dict[str, PositiveFloat] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.ray_resources is not None and not self.ray_resources:
            raise ValueError("ray_resources: name at least one resource, or leave it out")

    @property
    def placement(self) -> dict[str, float]:
        """The Ray resources that place this agent: `ray_resources`, else its tier's default."""
        if self.ray_resources is not None:
            return dict(self.ray_resources)
        return {f"{RAY_RESOURCE_PREFIX}{self.tier}": 1.0}


@dataclass(frozen=True)
class StackConfig:
    agents: list[AgentConfig]
    orchestrator: OrchestratorConfig = field(default_factory=OrchestratorConfig)
    time_scale: NonNegativeFloat = 1.0
    host: str = "127.0.0.1"
    # Catalog files (users' chips and models), relative to the stack file; absolute once loaded.
    catalog: list[str] = field(default_factory=list)

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
    if problems:
        raise datafile.errors_at(path, node, problems)
    return config
