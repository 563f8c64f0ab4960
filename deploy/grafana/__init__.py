"""Grafana for EdgeTier: dashboards generated from code, and the provisioning that shows them.

README.md beside this file says how to regenerate them and how to start Grafana on them.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"
PROVISIONING_DIR = HERE / "provisioning"
DATASOURCE_UID = "edgetier-prometheus"
"""The provisioned Prometheus datasource; every panel and variable references it by this uid."""
