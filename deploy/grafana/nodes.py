"""The "EdgeTier nodes" dashboard: each simulated node's health, load and power.

Node gauges come from the device agents (tier and node labels; `agent` from service discovery),
up/down from the orchestrator's view. A fleet can have thousands of nodes, so a `node` variable
narrows the per-node panels.
"""

from __future__ import annotations

from deploy.grafana.spec import Dashboard, Panel, Query, Row, Variable

NODE = 'tier=~"$tier", node=~"$node"'
AGENT = 'tier=~"$tier", model=~"$model"'
PER_NODE = "{{tier}}/{{node}}"

DASHBOARD = Dashboard(
    uid="edgetier-nodes",
    title="EdgeTier nodes",
    description="Per-node state, queue depth, in-flight work, utilisation and power.",
    variables=(
        Variable("tier", "Tier", "label_values(edgetier_power_watts, tier)"),
        Variable("model", "Model", "label_values(edgetier_agent_requests_total, model)"),
        Variable("node", "Node", 'label_values(edgetier_power_watts{tier=~"$tier"}, node)'),
    ),
    rows=(
        Row(
            "Health",
            (
                Panel(
                    "Nodes up",
                    "Nodes the orchestrator sees as up, by tier.",
                    (Query(f"sum by (tier) (edgetier_node_up{{{NODE}}})", "{{tier}}"),),
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Nodes down",
                    "Nodes the orchestrator has marked down (missed heartbeats), by tier.",
                    (Query(f"sum by (tier) (1 - edgetier_node_up{{{NODE}}})", "{{tier}}"),),
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Node state",
                    "Up or down over time, as the orchestrator sees each node.",
                    (Query(f"edgetier_node_up{{{NODE}}}", PER_NODE),),
                    kind="state",
                    width=12,
                ),
            ),
        ),
        Row(
            "Load",
            (
                Panel(
                    "Queue depth",
                    "Requests waiting on each node; a full queue makes the router escalate.",
                    (Query(f"edgetier_queue_depth{{{NODE}}}", PER_NODE),),
                    width=8,
                ),
                Panel(
                    "In flight",
                    "Requests running on each node now.",
                    (Query(f"edgetier_node_in_flight{{{NODE}}}", PER_NODE),),
                    width=8,
                ),
                Panel(
                    "Utilisation",
                    "Each node's utilisation as its agent reports it, from 0 (idle) to 1 (busy).",
                    (Query(f"edgetier_node_utilisation_ratio{{{NODE}}}", PER_NODE),),
                    unit="percentunit",
                    width=8,
                    min=0,
                    max=1,
                ),
            ),
        ),
        Row(
            "Power",
            (
                Panel(
                    "Power",
                    "Electrical power each node draws, idle power included.",
                    (Query(f"edgetier_power_watts{{{NODE}}}", PER_NODE),),
                    unit="watt",
                ),
                Panel(
                    "Energy use per agent",
                    "Joules per second (average watts) used by all nodes of each agent process, "
                    "idle included.",
                    (
                        Query(
                            "sum by (tier, agent) "
                            f"(rate(edgetier_energy_joules_total{{{NODE}}}[1m]))",
                            "{{tier}}/{{agent}}",
                        ),
                    ),
                    unit="watt",
                ),
            ),
        ),
        Row(
            "Agents",
            (
                Panel(
                    "Agent requests/s by model and outcome",
                    "Runs the agents finished (or refused, e.g. queue full), by model.",
                    (
                        Query(
                            "sum by (tier, model, outcome) "
                            f"(rate(edgetier_agent_requests_total{{{AGENT}}}[1m]))",
                            "{{tier}} {{model}} {{outcome}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Agent run time by model (p95)",
                    "How long the agents took to run a request, by tier and model.",
                    (
                        Query(
                            "histogram_quantile(0.95, sum by (tier, model, le) "
                            f"(rate(edgetier_agent_run_duration_seconds_bucket{{{AGENT}}}[1m])))",
                            "p95 {{tier}} {{model}}",
                        ),
                    ),
                    unit="s",
                ),
            ),
        ),
    ),
)
