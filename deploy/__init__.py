"""Deployment assets: Prometheus scrape config and recording rules, Grafana dashboards and
provisioning. Dashboards are generated from code (`edgetier dashboards build`), never hand-edited.
"""
