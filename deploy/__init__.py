"""Launchers and deployment assets: `edgetier up` as local processes or Ray actors (stack files,
process lifetimes), Prometheus scrape config and recording rules, Grafana dashboards generated
from code (`edgetier dashboards build`, never hand-edited) and their provisioning."""
