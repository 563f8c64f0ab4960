"""The cluster as routing policies see it: nodes, their load and health, and cost estimates.

A `Cluster` is kept up to date incrementally by its driver (the orchestrator from registrations,
heartbeats and its own dispatches; fleetsim from its events). Policies read it through the
`ClusterView` protocol and never copy it: the nodes that serve a model on a tier are an indexed
set kept current as nodes come and go, so a decision costs the same at 10 nodes and at 10,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from npu_sim.fastinit import fast_init
from npu_sim.hardware import Hardware, Tier
from npu_sim.models import LLM, Model
from npu_sim.predictor import Predictor
from routing.network import NetworkModel
from routing.request import Request

#: Weight of the newest observation in a node's slowdown, and its bounds.
SLOWDOWN_WEIGHT = 0.3
MIN_SLOWDOWN, MAX_SLOWDOWN = 0.5, 100.0


@dataclass(eq=False, slots=True)
class NodeState:
    """One node: what it is (static) and how busy and healthy it is (kept current)."""

    id: str
    agent: str
    tier: Tier
    hardware: Hardware
    models: dict[str, str]  # model id -> precision
    queue_capacity: int
    max_batch: int = 1
    up: bool = True
    queue_depth: int = 0
    in_flight: int = 0
    power_w: float = 0.0
    energy_j: float = 0.0
    resident: tuple[str, ...] = ()
    # Observed service time over predicted (the orchestrator learns it from replies): a slow
    # or throttled node looks slower to every estimate and every load comparison.
    slowdown: float = 1.0

    @property
    def full(self) -> bool:
        """True when the node would refuse one more request (its queue is full)."""
        return self.in_flight >= self.queue_capacity + self.max_batch

    @property
    def load(self) -> float:
        """How long a new request would queue, relative to the node's size: in-flight requests
        (this one included) over what it holds, times its observed slowdown."""
        return (self.in_flight + 1) * self.slowdown / (self.queue_capacity + self.max_batch)


@fast_init
@dataclass(frozen=True, slots=True)
class Estimate:
    """Predicted end-to-end cost of serving a request on a node, network included."""

    ttft_s: float
    latency_s: float
    energy_j: float
    network_s: float


class ClusterView(Protocol):
    """What a policy may read. Implemented by `Cluster`."""

    @property
    def network(self) -> NetworkModel: ...

    def node(self, node_id: str) -> NodeState | None: ...

    def serving(self, tier: Tier, model: str) -> Sequence[NodeState]: ...

    def has_tier(self, tier: Tier) -> bool: ...

    def could_fit(self, tier: Tier, model_id: str) -> bool: ...

    def model(self, model_id: str) -> Model: ...

    def estimate(self, node: NodeState, request: Request, model: str | None = None) -> Estimate: ...

    def marginal_joules(
        self, node: NodeState, request: Request, model: str | None = None
    ) -> float: ...


class _IndexedSet:
    """Nodes with O(1) add, remove and random access (for sampling)."""

    __slots__ = ("items", "position")

    def __init__(self) -> None:
        self.items: list[NodeState] = []
        self.position: dict[str, int] = {}

    def add(self, node: NodeState) -> None:
        if node.id not in self.position:
            self.position[node.id] = len(self.items)
            self.items.append(node)

    def discard(self, node_id: str) -> None:
        index = self.position.pop(node_id, None)
        if index is None:
            return
        last = self.items.pop()
        if index < len(self.items):
            self.items[index] = last
            self.position[last.id] = index


@dataclass
class Cluster:
    """The mutable cluster state a driver maintains; policies get it as a `ClusterView`."""

    predictor: Predictor
    network: NetworkModel = field(default_factory=NetworkModel)
    _nodes: dict[str, NodeState] = field(default_factory=dict)
    _serving: dict[tuple[str, str], _IndexedSet] = field(default_factory=dict)
    _memory: dict[str, float] = field(default_factory=dict)
    # estimate()'s parts that depend only on (node kind, model, request shape): fleetsim asks
    # millions of times. Dropped when the network is replaced, cleared when it grows large.
    _static: dict[tuple, tuple[float, float, float, float]] = field(
        default_factory=dict, repr=False
    )
    _static_network: NetworkModel | None = field(default=None, repr=False)
    _marginal: dict[tuple, float] = field(default_factory=dict, repr=False)

    # -- driver side -------------------------------------------------------------------------

    def upsert(self, node: NodeState) -> None:
        """Add a node, or replace one with the same id (re-registration)."""
        self.remove(node.id)
        self._nodes[node.id] = node
        self._memory[node.tier] = max(self._memory.get(node.tier, 0.0), node.hardware.memory_bytes)
        if node.up:
            self._index(node)

    def remove(self, node_id: str) -> None:
        node = self._nodes.pop(node_id, None)
        if node is not None:
            self._unindex(node)

    def set_up(self, node_id: str, up: bool) -> None:
        node = self._nodes[node_id]
        if node.up == up:
            return
        node.up = up
        if up:
            self._index(node)
        else:
            self._unindex(node)

    def nodes(self) -> list[NodeState]:
        return list(self._nodes.values())

    def _index(self, node: NodeState) -> None:
        for model in node.models:
            self._serving.setdefault((node.tier, model), _IndexedSet()).add(node)

    def _unindex(self, node: NodeState) -> None:
        for model in node.models:
            found = self._serving.get((node.tier, model))
            if found is not None:
                found.discard(node.id)

    # -- policy side (ClusterView) -------------------------------------------------------------

    def node(self, node_id: str) -> NodeState | None:
        return self._nodes.get(node_id)

    def serving(self, tier: Tier, model: str) -> Sequence[NodeState]:
        """Up nodes of `tier` that serve `model` (a live view: do not keep it)."""
        found = self._serving.get((tier, model))
        return found.items if found is not None else ()

    def has_tier(self, tier: Tier) -> bool:
        """Whether any node of the tier was ever registered (up or down)."""
        return tier in self._memory

    def could_fit(self, tier: Tier, model_id: str) -> bool:
        """Whether the model's weights, at the smallest precision, fit the largest memory of
        the tier: tells "does not fit there" from "nobody there serves it"."""
        model = self.model(model_id)
        smallest = min(
            model.weight_bytes(p) for p in self.predictor.catalog.precisions_by_id.values()
        )
        return smallest <= self._memory.get(tier, 0.0)

    def model(self, model_id: str) -> Model:
        return self.predictor.catalog.model(model_id)

    def estimate(self, node: NodeState, request: Request, model: str | None = None) -> Estimate:
        """Predicted end-to-end cost on `node`: the network both ways, waiting behind the
        node's in-flight work (each ahead costs about one service time; a batching node
        overlaps up to max_batch of them), then the service itself."""
        network_s, ttft_s, latency_s, energy_j = self._static_for(
            node, request, model or request.model
        )
        slow = node.slowdown
        wait = (node.in_flight // node.max_batch) * latency_s * slow
        return Estimate(  # positional: keywords through a class call build a dict
            network_s + wait + ttft_s * slow,  # ttft_s
            network_s + wait + latency_s * slow,  # latency_s
            energy_j * slow,  # the same power for longer (network joules included)
            network_s,
        )

    def marginal_joules(self, node: NodeState, request: Request, model: str | None = None) -> float:
        """The joules the fleet spends more if `request` runs on `node` now, network included.

        On a chip that does not batch, its own run (`estimate`'s energy). On one that batches,
        its prefill plus, for each of its decode steps, what it adds to the step of the batch
        running there now: E(b + 1) - E(b) for the b requests the node holds (an idle node:
        the whole step, E(1)), each member taken at this request's mid-generation context.
        This is what a request costs a GPU that is busy anyway, which its cost alone (a
        whole step per token) overstates by up to the batch size."""
        model_id = model or request.model
        static = self._static_for(node, request, model_id)  # also drops memos of an old network
        if node.max_batch <= 1:
            return static[3] * node.slowdown
        running = min(node.in_flight, node.max_batch - 1)
        key = (
            node.tier,
            node.hardware.id,
            model_id,
            node.models[model_id],
            request.prompt_tokens,
            request.output_tokens,
            running,
        )
        found = self._marginal.get(key)
        if found is None:
            if len(self._marginal) >= 1 << 17:
                self._marginal.clear()
            found = self._marginal[key] = self._marginal_cost(key)
        return found * node.slowdown

    def _marginal_cost(self, key: tuple) -> float:
        tier, hardware, model_id, precision, prompt_tokens, output_tokens, running = key
        costs = self.predictor.costs(hardware, model_id, precision)
        transfer = self.network.transfer(tier, costs.model, prompt_tokens, output_tokens)
        if not isinstance(costs.model, LLM):  # one image: no decode steps to share
            return costs.serve(prompt_tokens, output_tokens).energy_j + transfer.joules
        context = prompt_tokens + output_tokens / 2
        before = costs.decode_step(running, running * context).joules if running else 0.0
        after = costs.decode_step(running + 1, (running + 1) * context).joules
        steps = output_tokens - 1
        return costs.prefill(prompt_tokens).joules + steps * (after - before) + transfer.joules

    def observe(self, node: NodeState, request: Request, model: str, service_s: float) -> None:
        """Learn the node's slowdown from a served request: an exponentially weighted mean
        of observed over predicted service time (npu_sim's prediction for it alone)."""
        predicted = self._static_for(node, request, model)[2]  # Costs.serve(...).latency_s
        if predicted > 0 and service_s > 0:
            ratio = service_s / predicted
            slowdown = node.slowdown + SLOWDOWN_WEIGHT * (ratio - node.slowdown)
            node.slowdown = min(MAX_SLOWDOWN, max(MIN_SLOWDOWN, slowdown))

    def timed_out(self, node: NodeState) -> None:
        """A request on the node ran past several times its prediction: double its slowdown,
        so latency-aware policies move away from it before the next reply says by how much."""
        node.slowdown = min(MAX_SLOWDOWN, node.slowdown * 2)

    def _static_for(
        self, node: NodeState, request: Request, model_id: str
    ) -> tuple[float, float, float, float]:
        """(network seconds, service TTFT, service latency, service + network joules) of the
        request alone on a node like `node`, memoised."""
        key = (
            node.tier,
            node.hardware.id,
            model_id,
            node.models[model_id],
            request.prompt_tokens,
            request.output_tokens,
        )
        if self._static_network is not self.network:
            self._static.clear()
            self._marginal.clear()
            self._static_network = self.network
        static = self._static.get(key)
        if static is None:
            static = self._static_cost(key)
        return static

    def _static_cost(self, key: tuple) -> tuple[float, float, float, float]:
        """(network seconds, service TTFT, service latency, service + network joules)."""
        tier, hardware, model_id, precision, prompt_tokens, output_tokens = key
        costs = self.predictor.costs(hardware, model_id, precision)
        service = costs.serve(prompt_tokens, output_tokens)
        transfer = self.network.transfer(tier, costs.model, prompt_tokens, output_tokens)
        if len(self._static) >= 1 << 17:
            self._static.clear()
        found = self._static[key] = (
            transfer.seconds,
            service.ttft_s,
            service.latency_s,
            service.energy_j + transfer.joules,
        )
        return found
