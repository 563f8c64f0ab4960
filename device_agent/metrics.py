"""The agent's Prometheus metrics, served at `/metrics` on their own HTTP port.

Metric names are a contract with the dashboards and the orchestrator's discovery:
- `edgetier_energy_joules_total` {tier, node}: energy the node drew since it started, idle time
  included. Computed at scrape time from the engine (`energy_j(now)`) by a custom collector, so
  it grows between requests exactly as the power model says, not only when a request ends.
- `edgetier_power_watts`, `edgetier_queue_depth`, `edgetier_node_in_flight`,
  `edgetier_node_utilisation_ratio` {tier, node}: gauges read at scrape time the same way.
- `edgetier_agent_requests_total` {tier, model, outcome}: one per request the agent decided on
  (an accepted one counts `ok` when it finishes; an idempotent retry is not counted again).
- `edgetier_agent_run_duration_seconds` {tier, model}: modelled latency of finished requests.

Labels are bounded: `model` is a served model or `other` (clients send arbitrary strings),
`node` comes from the agent's own configuration. One registry per agent, so several agents can
live in one process (tests, launchers).

The HTTP server answers scrapes on its own thread, while the engines live on the event loop and
are not thread-safe: the collector hops onto the loop to read them (`loop_bound`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from device_agent.node_driver import NodeSnapshot
from routing.refusals import NODE_REFUSALS

#: `outcome` label values: ok, then each node refusal's (routing.refusals), in table order.
OUTCOMES: tuple[str, ...] = ("ok", *dict.fromkeys(r.outcome for r in NODE_REFUSALS.values()))
OTHER_MODEL = "other"
# Modelled latencies span a GPU's vision inference (milliseconds) to a long generation on a
# phone NPU (minutes).
RUN_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
)
SCRAPE_TIMEOUT_S = 5.0
T = TypeVar("T")
log = logging.getLogger(__name__)


class AgentMetrics:
    """The metrics of one agent, in a registry of its own."""

    def __init__(self, tier: str, models: Iterable[str]) -> None:
        self.tier = tier
        self.registry = CollectorRegistry(auto_describe=False)
        self._models = frozenset(models)
        self._requests = Counter(
            "edgetier_agent_requests_total",
            "Requests the agent decided on, by outcome (an idempotent retry is not counted again).",
            ["tier", "model", "outcome"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "edgetier_agent_run_duration_seconds",
            "Modelled latency of finished requests, from acceptance to the last token.",
            ["tier", "model"],
            buckets=RUN_DURATION_BUCKETS,
            registry=self.registry,
        )
        for model in sorted(self._models):  # series exist from the start, so rate() works
            self._duration.labels(tier, model)
            for outcome in OUTCOMES:
                self._requests.labels(tier, model, outcome)

    def model_label(self, model: str) -> str:
        return model if model in self._models else OTHER_MODEL

    def count(self, model: str, outcome: str) -> None:
        self._requests.labels(self.tier, self.model_label(model), outcome).inc()

    def observe_run(self, model: str, latency_s: float) -> None:
        self._duration.labels(self.tier, self.model_label(model)).observe(latency_s)

    def watch_nodes(self, snapshot: Callable[[], Sequence[NodeSnapshot]]) -> None:
        """Export the nodes' live state, read through `snapshot` at every scrape (from the
        scraping thread: make it thread-safe, see `loop_bound`)."""
        self.registry.register(NodeCollector(self.tier, snapshot))


class NodeCollector(Collector):
    """Energy, power, queue, in-flight and utilisation of every node, computed at scrape time."""

    def __init__(self, tier: str, snapshot: Callable[[], Sequence[NodeSnapshot]]) -> None:
        self._tier = tier
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return self._families(())

    def collect(self) -> Iterable[Metric]:
        try:
            nodes = self._snapshot()
        except (RuntimeError, TimeoutError) as exc:  # the loop is stopping or stuck
            log.warning("node metrics unavailable for this scrape: %s", exc or type(exc).__name__)
            nodes = ()
        return self._families(nodes)

    def _families(self, nodes: Sequence[NodeSnapshot]) -> Iterator[Metric]:
        labels = ["tier", "node"]
        energy = CounterMetricFamily(
            "edgetier_energy_joules_total",
            "Energy drawn by the node since it started, idle time included (modelled).",
            labels=labels,
        )
        power = GaugeMetricFamily(
            "edgetier_power_watts", "Power the node draws now (modelled).", labels=labels
        )
        queue = GaugeMetricFamily(
            "edgetier_queue_depth", "Requests waiting in the node's queue.", labels=labels
        )
        in_flight = GaugeMetricFamily(
            "edgetier_node_in_flight",
            "Requests accepted by the node and not finished (waiting or running).",
            labels=labels,
        )
        utilisation = GaugeMetricFamily(
            "edgetier_node_utilisation_ratio",
            "Fraction of time the node has been busy since it started.",
            labels=labels,
        )
        for node in nodes:
            values = [self._tier, node.id]
            energy.add_metric(values, node.energy_j)
            power.add_metric(values, node.power_w)
            queue.add_metric(values, node.queue_depth)
            in_flight.add_metric(values, node.in_flight)
            utilisation.add_metric(values, node.utilisation)
        yield from (energy, power, queue, in_flight, utilisation)


def loop_bound(
    loop: asyncio.AbstractEventLoop, fn: Callable[[], T], timeout: float = SCRAPE_TIMEOUT_S
) -> Callable[[], T]:
    """`fn` made callable from any thread: it runs on `loop` and the caller waits (at most
    `timeout`, then TimeoutError). Called on the loop's own thread, it runs directly."""

    def call() -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not result.set_running_or_notify_cancel():
                return
            try:
                result.set_result(fn())
            except Exception as exc:
                result.set_exception(exc)

        loop.call_soon_threadsafe(run)  # RuntimeError once the loop is closed
        try:
            return result.result(timeout)
        finally:
            result.cancel()

    return call
