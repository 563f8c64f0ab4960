"""A node group: `nodes` identical nodes of one tier and one chip, serving the same models.

The one schema of a scenario's topology entries, a stack file's agents and an agent process's
settings, so a scenario can run simulated and live with the same fleet, node ids included
(`<group>-<i>`, as a live agent names its nodes). Files are validated in two passes: the schema
(types and ranges, by pydantic), then `group_problems` against the catalog in use, each problem
with the field at fault, so a file can name its line and a command line its flag.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Annotated

import pydantic
from pydantic import PositiveInt

from npu_sim.catalog import UnknownNameError
from npu_sim.datafile import STRICT
from npu_sim.engine import DEFAULT_MAX_BATCH, DEFAULT_QUEUE_CAPACITY
from npu_sim.hardware import Tier
from npu_sim.memory import memory_need
from npu_sim.predictor import Predictor
from npu_sim.schema_errors import Problem

#: Group (agent) names become node ids and metric label values: short and unsurprising.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
NAME_RULE = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"


def _checked_name(name: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


#: A group's name in files: checked by the rule (an error says it in words), the pattern in
#: the JSON Schema for editors.
GroupName = Annotated[
    str,
    pydantic.AfterValidator(_checked_name),
    pydantic.WithJsonSchema({"type": "string", "pattern": NAME_PATTERN, "description": NAME_RULE}),
]


@STRICT
@dataclass(frozen=True)
class NodeGroup:
    """`nodes` identical nodes of one tier and one chip, serving the same models: one live
    agent; its nodes are named `<group>-0`, `<group>-1`, ..."""

    tier: Tier
    """Where the nodes are: device (a phone or camera), edge (a box nearby) or cloud."""
    hardware: str
    """The chip of every node, a hardware id of the catalog (`edgetier npu list`)."""
    models: dict[str, str]
    """The models every node serves, each at a precision: {model id: precision id}, e.g.
    {qwen2.5-0.5b: w8a16}. Models that do not all fit a node's memory at once are loaded on
    demand (the first request pays the load)."""
    nodes: PositiveInt = 1
    """How many identical nodes."""
    queue_capacity: PositiveInt = DEFAULT_QUEUE_CAPACITY
    """Requests a node holds waiting before it refuses more (RESOURCE_EXHAUSTED: the router
    escalates)."""
    max_batch: PositiveInt = DEFAULT_MAX_BATCH
    """Requests a node decodes together, on hardware that batches (GPUs)."""

    def node_ids(self, name: str) -> list[str]:
        """The ids of the group's nodes, as the live agent named `name` calls them. Interned:
        every list of them holds the same string objects, so the dictionaries keyed by node id
        (the cluster's, fleetsim's) find a request's origin by identity, without comparing
        characters at a random place in memory."""
        return [sys.intern(f"{name}-{i}") for i in range(self.nodes)]


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a group (or an agent), or None."""
    if re.match(NAME_PATTERN, name):
        return None
    return f"{name!r} must be {NAME_RULE}"


def group_problems(group: NodeGroup, predictor: Predictor) -> list[Problem]:
    """What keeps the group from running on `predictor`'s catalog: an unknown chip, model or
    precision, a precision the chip cannot compute, a model that fits no node's memory."""
    catalog = predictor.catalog
    try:
        hardware = catalog.hardware(group.hardware)
    except UnknownNameError as exc:
        return [(("hardware",), str(exc))]
    if not group.models:
        return [(("models",), "at least one model is required")]
    problems: list[Problem] = []
    for model_id, precision_id in group.models.items():
        where = ("models", model_id)
        try:
            model = catalog.model(model_id)
            precision = catalog.precision(precision_id)
        except UnknownNameError as exc:
            problems.append((where, str(exc)))
            continue
        if hardware.compute_rate(precision) is None:
            problems.append((where, f"{hardware.id} has no compute rate for {precision_id}"))
            continue
        need = memory_need(hardware, model, precision, context_tokens=2)
        if not need.fits:
            fitting = [
                other.id
                for other in catalog.models_by_id.values()
                if memory_need(hardware, other, precision, context_tokens=2).fits
            ]
            problems.append(
                (
                    where,
                    f"{model_id}:{precision_id} fits no node on {hardware.id} "
                    f"({need.explain()}); models that fit at {precision_id}: "
                    + (", ".join(fitting) or "none"),
                )
            )
    return problems
