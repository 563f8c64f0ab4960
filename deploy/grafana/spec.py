"""What a dashboard says, as plain data: variables, rows, panels and their PromQL.

The dashboard modules (overview, nodes) are written in these terms and `render` turns them into
Grafana JSON with grafana-foundation-sdk. Keeping the content apart from the SDK makes a panel
quick to read and review: a title, a unit and its queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Query:
    """One PromQL expression and how each of its series is named in the legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """One panel. `kind`: timeseries (a graph), stat (a big number), state (up/down timeline)."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Literal["timeseries", "stat", "state"] = "timeseries"
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Row:
    """A titled group of panels, laid out left to right."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A multi-value template variable filled from `label_values(...)`, "All" by default."""

    name: str
    label: str
    query: str


@dataclass(frozen=True)
class Dashboard:
    """A whole dashboard; `uid` also names its JSON file."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"


def quantile_queries(buckets: str, by: str, what: str) -> tuple[Query, ...]:
    """p50, p95 and p99 of a histogram's bucket rates (a selector), split by the label `by`."""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({by}, le) ({buckets}))",
            f"p{round(q * 100)} {what}",
        )
        for q in QUANTILES
    )
