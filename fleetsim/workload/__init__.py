"""Workloads: the requests of a scenario, in arrival order, as `Arrival(time, request)`.

Two sources, one interface: synthetic Poisson arrivals (`synthetic`) and trace replay
(`trace`). Both draw from seeded numpy generators, one stream per concern (arrival times,
models, token counts, devices), so changing the number of devices does not move arrival times,
and the same scenario and seed give the same requests, in every policy's run and in the bounds.
Requests are generated in chunks and yielded one at a time: a million requests never sit in
memory as objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from fleetsim.scenario import Poisson, Scenario
from fleetsim.workload.arrival import Arrival
from fleetsim.workload.synthetic import poisson_arrivals, poisson_horizon
from fleetsim.workload.trace import trace_arrivals, trace_horizon


def arrivals(scenario: Scenario, seed: int | None = None) -> Iterator[Arrival]:
    """The scenario's requests in arrival order (`seed` defaults to the scenario's)."""
    seed = scenario.seed if seed is None else seed
    if isinstance(scenario.workload, Poisson):
        return poisson_arrivals(scenario, scenario.workload, seed)
    return trace_arrivals(scenario, scenario.workload, seed)


def horizon_s(scenario: Scenario) -> float:
    """When the last request arrives, about (for binning load over time)."""
    if isinstance(scenario.workload, Poisson):
        return poisson_horizon(scenario, scenario.workload)
    return trace_horizon(scenario, scenario.workload)


__all__ = ["Arrival", "arrivals", "horizon_s"]
