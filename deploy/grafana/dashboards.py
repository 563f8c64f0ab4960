"""The EdgeTier dashboards: generate their JSON, check the committed copies, list their queries.

    edgetier dashboards build            # regenerate deploy/grafana/dashboards/*.json
    edgetier dashboards build --check    # exit 1 if the committed JSON is stale

The JSON is committed (Grafana reads files, and a plain clone needs no SDK); a test runs the check.
`panel_queries` reads the committed files, so what it returns is exactly what Grafana will run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from deploy.grafana import DASHBOARDS_DIR, nodes, overview
from deploy.grafana.spec import Dashboard

DASHBOARDS: tuple[Dashboard, ...] = (overview.DASHBOARD, nodes.DASHBOARD)

_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_INTERVALS = {"__rate_interval": "1m", "__interval": "1m", "__range": "15m"}


def generate() -> dict[str, str]:
    """File name -> JSON text of every dashboard, freshly rendered."""
    from deploy.grafana.render import to_json  # needs grafana-foundation-sdk (dev extra)

    return {spec.file_name: to_json(spec) for spec in DASHBOARDS}


def write(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    """Regenerate every dashboard into `directory`, removing JSON files no dashboard makes."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh = generate()
    for old in directory.glob("*.json"):
        if old.name not in fresh:
            old.unlink()
    paths = []
    for name, text in fresh.items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    return paths


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Names of the files in `directory` that differ from a fresh generation, are missing, or
    are left over; empty when the committed JSON is current."""
    fresh = generate()
    committed = {p.name: p.read_text() for p in directory.glob("*.json")}
    return sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )


def substitute(expr: str) -> str:
    """`expr` as Grafana would send it with every template variable at "All": a variable becomes
    `.*` (they are only used in `=~` matchers), Grafana's interval macros a fixed window."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return _INTERVALS.get(name, ".*")

    return _VARIABLE.sub(value, expr)


def panel_queries(directory: Path = DASHBOARDS_DIR) -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, PromQL) for every query of every panel of the committed
    dashboards, variables substituted: ready to send to Prometheus's query API."""
    queries = []
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text())
        for panel in _panels(document.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append((document["title"], panel["title"], substitute(target["expr"])))
    return queries


def _panels(panels: list[dict[str, object]]) -> list[dict[str, object]]:
    """Panels in reading order, those folded inside collapsed rows included."""
    flat: list[dict[str, object]] = []
    for panel in panels:
        flat.append(panel)
        nested = panel.get("panels")
        if isinstance(nested, list):
            flat.extend(_panels(nested))
    return flat
