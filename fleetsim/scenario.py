"""Scenarios: the fleet, its links, its traffic, its SLOs and the policies to compare, as YAML.

A scenario file is validated into the frozen dataclasses below by pydantic, through
`npu_sim.datafile`, so a typo reads "scenarios/city.yaml:14: topology.phone.hardware: unknown
hardware 'ax630'; valid: ...", not a traceback. Names (hardware, models, precisions, policies)
are checked against the same catalogs and registry the live platform uses; names that refer to
another part of the file (an outage's group, the device group requests come from) are checked
after the schema, with the same file:line: field form.

A group is one kind of node, like one agent of the live stack: its nodes are `<group>-<i>`, as
the live agents name theirs, so a scenario can be run both ways and compared node by node.

`load_scenario(path, overrides)` applies `--param path=value` overrides (fleetsim.sweep) to the
YAML data before validation, so an override is validated like a hand edit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

from fleetsim.overrides import apply as set_paths
from npu_sim import datafile
from npu_sim.catalog import Catalog, UnknownNameError
from npu_sim.datafile import STRICT, SetByLoader
from npu_sim.hardware import Tier
from npu_sim.models import LLM
from npu_sim.predictor import Predictor, load_predictor
from npu_sim.quality import Task as TaskFamily
from routing.groups import GroupName, NodeGroup, Problem, group_problems
from routing.network import LinkOverrides, NetworkModel, with_overrides
from routing.policies import BUILTINS
from routing.specs import PolicyEntry, PolicyError, PolicySpec

#: Tasks an SLO may be given for, besides single model ids ("llm" covers every LLM).
TASKS = ("llm", "detection", "classification", "embedding")
#: The JSON Schema of scenario files (`edgetier sim schema` regenerates it; a test compares) and
#: the annotated starter scenario `edgetier sim init` prints.
SCHEMA_FILE = Path(__file__).parent / "data" / "scenario.schema.json"
STARTER_FILE = Path(__file__).parent / "data" / "starter.yaml"


#: Model ids and SLO keys are checked against the scenario's catalog (shipped chips and models
#: plus its `catalog:` files) after the schema, in `references`.
ModelId = str
SloKey = str
Weight = Annotated[float, pydantic.Field(gt=0)]


@STRICT
@dataclass(frozen=True)
class LogNormal:
    """Token counts whose logarithm is normal: median and sigma of the underlying normal."""

    median: PositiveFloat
    """The median token count."""
    sigma: NonNegativeFloat
    """The standard deviation of the count's natural logarithm."""


@STRICT
@dataclass(frozen=True)
class Tokens:
    """A token-count distribution: exactly one of `constant`, `uniform: [low, high]`
    (inclusive) or `lognormal`; draws are clipped to [1, max]."""

    constant: PositiveInt | None = None
    """Always this many tokens."""
    uniform: tuple[PositiveInt, PositiveInt] | None = None
    """[low, high]: any count in between, each as likely (both included)."""
    lognormal: LogNormal | None = None
    """{median, sigma}: a long-tailed count, as real prompt and answer lengths are."""
    max: PositiveInt = 1_000_000
    """Draws above this are clipped to it."""

    def __post_init__(self) -> None:
        given = [f.name for f in fields(self) if f.name != "max" and getattr(self, f.name)]
        if len(given) != 1:
            raise ValueError("give exactly one of constant, uniform or lognormal")
        if self.uniform is not None and self.uniform[0] > self.uniform[1]:
            raise ValueError("uniform: low must not exceed high")


TokenSpec = PositiveInt | Tokens


def as_tokens(spec: TokenSpec) -> Tokens:
    return Tokens(constant=spec) if isinstance(spec, int) else spec


@STRICT
@dataclass(frozen=True)
class MixEntry:
    """One kind of request in a synthetic mix: a model, its share, its token counts (vision
    models take one image: their token counts are ignored), and for an LLM its task family
    (npu_sim.quality.TASKS; default DEFAULT_TASK, chat), on which its answer is judged."""

    model: ModelId
    """The model requests ask for, a model id of the catalog (`edgetier npu list`)."""
    weight: Weight = 1.0
    """Its share of the requests, relative to the other entries' weights."""
    prompt_tokens: TokenSpec = 128
    """Prompt length in tokens: a number, {uniform: [low, high]}, {lognormal: {median,
    sigma}, max: N} or {constant: N}."""
    output_tokens: TokenSpec = 128
    """Tokens to generate, in the same forms as prompt_tokens."""
    task: TaskFamily | None = None
    """The LLM requests' task family (npu_sim.quality.TASKS; default chat)."""


DeviceMapping = Literal["uniform", "round-robin"]


@STRICT
@dataclass(frozen=True)
class Poisson:
    """Poisson arrivals at `rate_per_s`, each request drawn from `mix`; runs until the
    scenario's `duration_s` or `requests` requests, whichever comes first."""

    rate_per_s: PositiveFloat
    """Mean arrivals per second, over the whole fleet."""
    mix: Annotated[list[MixEntry], pydantic.Field(min_length=1)]
    """The kinds of request, each drawn in proportion to its weight."""
    kind: Literal["poisson"] = "poisson"
    """Which workload this is: poisson (or trace)."""
    requests: PositiveInt | None = None
    """Stop after this many requests (none: at duration_s)."""
    devices: DeviceMapping = "uniform"
    """Which device each request comes from: uniform (random, seeded) or round-robin."""
    device_group: str | None = None
    """Requests come from this device group's nodes only (none: every device group's)."""


@STRICT
@dataclass(frozen=True)
class Trace:
    """Replay of a request trace in the Azure LLM 2023 format (TIMESTAMP, ContextTokens,
    GeneratedTokens). `file` is looked up beside the scenario, then among the shipped traces
    (fleetsim/data/traces). Time runs `speedup` times faster; each request gets a model from
    the weighted `models` mix and a device (uniform random with the seed, or round-robin)."""

    file: str
    """The trace CSV: beside the scenario, or a shipped one (azure_llm_2023_conv.csv,
    azure_llm_2023_code.csv)."""
    models: Annotated[dict[ModelId, Weight], pydantic.Field(min_length=1)]
    """Which model each request asks for: {model id: weight}, drawn in proportion."""
    kind: Literal["trace"] = "trace"
    """Which workload this is: trace (or poisson)."""
    speedup: PositiveFloat = 1.0
    """Replay this many times faster than recorded (2: twice the arrival rate)."""
    cap_to_context: bool = True
    """Shorten requests longer than their model's context window (false: they are refused)."""
    requests: PositiveInt | None = None
    """Replay only the first this many requests (none: all of them)."""
    devices: DeviceMapping = "uniform"
    """Which device each request comes from: uniform (random, seeded) or round-robin."""
    device_group: str | None = None
    """Requests come from this device group's nodes only (none: every device group's)."""
    task: TaskFamily | None = None
    """The LLM requests' task family (npu_sim.quality.TASKS); default: the shipped trace's
    (conversation: chat, code: code), else chat."""


Workload = Annotated[Poisson | Trace, pydantic.Field(discriminator="kind")]


@STRICT
@dataclass(frozen=True)
class Outage:
    """Nodes down from `start_s` to `end_s` (a fault: requests on them fail, they come back
    empty): every node of `group`, or of `tier`."""

    start_s: NonNegativeFloat
    """When the nodes go down, seconds from the start."""
    end_s: NonNegativeFloat
    """When they come back (empty), seconds from the start."""
    kind: Literal["outage"] = "outage"
    """The kind of event: outage."""
    tier: Tier | None = None
    """Every node of this tier goes down (or give group)."""
    group: str | None = None
    """Every node of this topology group goes down (or give tier)."""

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        if (self.tier is None) == (self.group is None):
            raise ValueError("give exactly one of tier or group")


@STRICT
@dataclass(frozen=True)
class Scenario:
    """What fleetsim runs (`edgetier sim run FILE`): a fleet, its traffic, its SLOs and the
    policies to compare. `edgetier sim init` writes an annotated starter; scenarios/*.yaml
    are commented examples."""

    name: GroupName
    """The scenario's name: results go to results/<name>/."""
    topology: Annotated[dict[GroupName, NodeGroup], pydantic.Field(min_length=1)]
    """The fleet: node groups by name, each one live agent's nodes (`<group>-<i>`)."""
    workload: Workload
    """The traffic: Poisson arrivals from a mix (kind: poisson) or a trace replay (kind:
    trace)."""
    policies: Annotated[list[PolicyEntry], pydantic.Field(min_length=1)] = field(
        default_factory=lambda: [PolicySpec(name) for name in BUILTINS]
    )
    """The policies to compare: built-in names, {name: NAME, options: {...}} or {class:
    package.module:Class, options: {...}} (default: every built-in)."""
    slo_s: dict[SloKey, PositiveFloat] = field(default_factory=dict)
    """End-to-end latency objectives, seconds, per model id or per task (llm, detection,
    classification, embedding); a model's own entry wins over its task's (default: none)."""
    slo_scale: PositiveFloat = 1.0
    """Multiplies every SLO (a knob for sweeps)."""
    network: LinkOverrides = field(default_factory=dict)
    """Changes to the links from a device to the edge and the cloud tiers."""
    duration_s: PositiveFloat | None = None
    """Seconds of arrivals to simulate (none: until the workload ends)."""
    seed: NonNegativeInt = 0
    """Seed of every random draw: the same scenario and seed give the same numbers."""
    attempt_floor_s: PositiveFloat = 2.0
    """The orchestrator's --attempt-timeout-floor, seconds: an attempt may take max(this, 4 x
    predicted) before the router gives up on the node (`timeout`) and escalates."""
    events: list[Outage] = field(default_factory=list)
    """Faults during the run: outages of a group or a tier."""
    description: str = ""
    """One line about the scenario, for people."""
    catalog: list[str] = field(default_factory=list)
    """Catalog files (chips and models users bring, in the schema of npu_sim's data files),
    relative to this file; resolved to absolute paths when the scenario loads."""
    base_dir: SetByLoader = ""
    """Where relative file names resolve: the scenario file's folder."""

    # -- derived ---------------------------------------------------------------------------

    def network_model(self) -> NetworkModel:
        """routing.network's default links with this scenario's overrides."""
        return with_overrides(self.network)

    def predictor(self) -> Predictor:
        """The shipped catalog plus this scenario's catalog files, calibrated (memoised)."""
        return _predictor(tuple(self.catalog))

    def slo_for(self, model_id: str) -> float | None:
        """The model's SLO (seconds, scaled): its own entry, else its task's, else None."""
        model = self.predictor().catalog.model(model_id)
        task = "llm" if isinstance(model, LLM) else model.task
        slo = self.slo_s.get(model_id, self.slo_s.get(task))
        return None if slo is None else slo * self.slo_scale

    def device_ids(self, group: str | None = None) -> list[str]:
        """Device node ids requests come from: every device group's, or one group's."""
        return [
            node
            for name, spec in self.topology.items()
            if spec.tier == "device" and (group is None or name == group)
            for node in spec.node_ids(name)
        ]

    @property
    def node_count(self) -> int:
        return sum(group.nodes for group in self.topology.values())


def references(scenario: Scenario, predictor: Predictor) -> list[Problem]:
    """Problems the schema cannot see: groups the catalog cannot run, and names that point
    elsewhere in the file. (location, message) each."""
    problems: list[Problem] = [
        (("topology", name, *where), message)
        for name, group in scenario.topology.items()
        for where, message in group_problems(group, predictor)
    ]
    groups = scenario.topology
    device_group = scenario.workload.device_group
    if device_group is not None and (
        device_group not in groups or groups[device_group].tier != "device"
    ):
        devices = [n for n, g in groups.items() if g.tier == "device"]
        problems.append(
            (
                ("workload", "device_group"),
                f"no device group {device_group!r}; device groups: {', '.join(devices) or '-'}",
            )
        )
    catalog = predictor.catalog
    problems += [
        (where, str(exc))
        for where, model_id in _model_references(scenario)
        if (exc := _unknown_model(catalog, model_id)) is not None
    ]
    problems += _task_problems(scenario, catalog)
    for key in scenario.slo_s:
        if key not in TASKS and key not in catalog.models_by_id:
            problems.append(
                (("slo_s", key), f"{key!r} is neither a model id nor a task ({', '.join(TASKS)})")
            )
    labels: set[str] = set()
    for i, spec in enumerate(scenario.policies):
        try:
            spec.build(scenario.seed)
        except PolicyError as exc:
            problems.append((("policies", i), str(exc)))
        if spec.label in labels:
            problems.append((("policies", i), f"policy {spec.label!r} is listed twice"))
        labels.add(spec.label)
    workload = scenario.workload
    if isinstance(workload, Poisson) and workload.requests is None and scenario.duration_s is None:
        problems.append(
            (("workload", "requests"), "a Poisson workload needs requests or duration_s to end")
        )
    for i, event in enumerate(scenario.events):
        if event.group is not None and event.group not in groups:
            problems.append(
                (("events", i, "group"), f"no group {event.group!r}; groups: {', '.join(groups)}")
            )
        if event.tier is not None and all(g.tier != event.tier for g in groups.values()):
            problems.append((("events", i, "tier"), f"no group is on tier {event.tier!r}"))
    return problems


def _model_references(scenario: Scenario) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every model id the workload names, with where it is named."""
    workload = scenario.workload
    if isinstance(workload, Poisson):
        for i, entry in enumerate(workload.mix):
            yield ("workload", "mix", i, "model"), entry.model
    else:
        for model_id in workload.models:
            yield ("workload", "models", model_id), model_id


def _task_problems(scenario: Scenario, catalog: Catalog) -> list[Problem]:
    """A task family given to requests that cannot have one (vision models)."""
    workload = scenario.workload
    if isinstance(workload, Poisson):
        return [
            (
                ("workload", "mix", i, "task"),
                f"{entry.model} is not an LLM: only LLM requests have a task family",
            )
            for i, entry in enumerate(workload.mix)
            if entry.task is not None
            and _unknown_model(catalog, entry.model) is None
            and not isinstance(catalog.model(entry.model), LLM)
        ]
    return []


def _unknown_model(catalog: Catalog, model_id: str) -> UnknownNameError | None:
    try:
        catalog.model(model_id)
    except UnknownNameError as exc:
        return exc
    return None


def parse_scenario(
    data: Any,
    path: Path,
    node: Any = None,
    base_dir: Path | None = None,
    extra_catalogs: Sequence[Path] = (),
) -> Scenario:
    """Validate already-parsed YAML data, its names against its catalog (the shipped one, its
    `catalog:` files and `extra_catalogs`); raises npu_sim.datafile.DataFileError."""
    scenario: Scenario = datafile.validate(path, data, node, Scenario)
    base = base_dir if base_dir is not None else path.parent
    files = [str((base / file).resolve()) for file in scenario.catalog]
    files += [str(file.resolve()) for file in extra_catalogs]
    scenario = replace(scenario, base_dir=str(base), catalog=files)
    problems = references(scenario, scenario.predictor())
    if problems:
        raise datafile.errors_at(path, node, problems)
    return scenario


@functools.cache
def _predictor(catalog_files: tuple[str, ...]) -> Predictor:
    return load_predictor([Path(file) for file in catalog_files])


def load_scenario(
    path: Path, overrides: dict[str, Any] | None = None, extra_catalogs: Sequence[Path] = ()
) -> Scenario:
    """Load, override (`{"topology.phone.nodes": 100}`) and validate a scenario file, with
    `extra_catalogs` (`--catalog FILE`) beside its own catalog files."""
    data, node = datafile.parse_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_scenario(data, path, node, extra_catalogs=extra_catalogs)


def apply_overrides(data: Any, overrides: dict[str, Any]) -> Any:
    """A deep copy of `data` with each dotted path set (fleetsim.overrides: a path that names
    nothing in a scenario is an error naming the valid keys)."""
    return set_paths(data, overrides, Scenario)
