"""The "EdgeTier overview" dashboard: where requests ran and what that cost.

Panels read the recording rules of deploy/prometheus/rules.yml at (tier, model) grain, filter
by the `tier` and `model` variables, and only then aggregate, so quantiles and ratios are of the
selection, not averages of averages.
"""

from __future__ import annotations

from deploy.grafana.spec import Dashboard, Panel, Query, Row, Variable, quantile_queries

SELECTED = 'tier=~"$tier", model=~"$model"'
OK = f'{SELECTED}, outcome="ok"'
REQUESTS = f"tier_model_outcome:edgetier_requests:rate1m{{{SELECTED}}}"
LATENCY = f"tier_model_outcome:edgetier_request_duration_seconds_bucket:rate1m{{{OK}}}"
TTFT = f"tier_model_outcome:edgetier_ttft_seconds_bucket:rate1m{{{OK}}}"
SLO = f"tier_model_met:edgetier_slo_requests:rate1m{{{SELECTED}}}"
SLO_MET = f'tier_model_met:edgetier_slo_requests:rate1m{{{SELECTED}, met="true"}}'
ESCALATIONS = 'from_tier_to_tier_reason:edgetier_escalations:rate1m{from_tier=~"$tier"}'
ANSWERS = "edgetier_answer_p_correct_ratio"


def _mean_p_correct(by: str) -> str:
    """The mean P(correct) of the selected LLM answers over the last minute, by `by`."""
    window = f"{{{SELECTED}}}[1m]"
    return (
        f"sum by ({by}) (rate({ANSWERS}_sum{window}))"
        f" / sum by ({by}) (rate({ANSWERS}_count{window}))"
    )


def _slo_attainment(by: str) -> str:
    """Met over all requests with an SLO; `or 0 * ...` keeps a tier that met none at 0."""
    group = f" by ({by})" if by else ""
    return f"(sum{group} ({SLO_MET}) or 0 * sum{group} ({SLO})) / sum{group} ({SLO})"


DASHBOARD = Dashboard(
    uid="edgetier-overview",
    title="EdgeTier overview",
    description="Requests, latency, SLOs, escalations and energy by tier and model.",
    variables=(
        Variable("tier", "Tier", "label_values(edgetier_requests_total, tier)"),
        Variable("model", "Model", "label_values(edgetier_requests_total, model)"),
    ),
    rows=(
        Row(
            "Traffic",
            (
                Panel(
                    "Requests/s by tier",
                    "Final replies per second, by the tier that served them (none: no tier did).",
                    (Query(f"sum by (tier) ({REQUESTS})", "{{tier}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Requests/s by outcome",
                    "Final replies per second by outcome: anything but ok is an error the "
                    "client saw.",
                    (Query(f"sum by (outcome) ({REQUESTS})", "{{outcome}}"),),
                    unit="reqps",
                ),
            ),
        ),
        Row(
            "Latency (successful requests)",
            (
                Panel(
                    "Latency by tier",
                    "End-to-end request latency, p50/p95/p99, by serving tier.",
                    quantile_queries(LATENCY, "tier", "{{tier}}"),
                    unit="s",
                ),
                Panel(
                    "Latency by model",
                    "End-to-end request latency, p50/p95/p99, by model.",
                    quantile_queries(LATENCY, "model", "{{model}}"),
                    unit="s",
                ),
                Panel(
                    "Time to first token by tier",
                    "TTFT p50/p95/p99 by serving tier.",
                    quantile_queries(TTFT, "tier", "{{tier}}"),
                    unit="s",
                ),
                Panel(
                    "Time to first token by model",
                    "TTFT p50/p95/p99 by model.",
                    quantile_queries(TTFT, "model", "{{model}}"),
                    unit="s",
                ),
            ),
        ),
        Row(
            "SLO",
            (
                Panel(
                    "SLO attainment",
                    "Share of the selected requests that had a latency SLO and met it.",
                    (Query(_slo_attainment(""), "all"),),
                    unit="percentunit",
                    kind="stat",
                    width=6,
                    min=0,
                    max=1,
                ),
                Panel(
                    "SLO attainment by tier",
                    "Share of requests with a latency SLO that met it, by serving tier.",
                    (Query(_slo_attainment("tier"), "{{tier}}"),),
                    unit="percentunit",
                    width=18,
                    min=0,
                    max=1,
                ),
            ),
        ),
        Row(
            "Escalations",
            (
                Panel(
                    "Escalations/s by reason",
                    "Requests handed to another tier, by why (selected by the tier they left).",
                    (Query(f"sum by (reason) ({ESCALATIONS})", "{{reason}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Escalations/s by path",
                    "Requests handed from one tier to another.",
                    (
                        Query(
                            f"sum by (from_tier, to_tier) ({ESCALATIONS})",
                            "{{from_tier}} → {{to_tier}}",
                        ),
                    ),
                    unit="reqps",
                ),
            ),
        ),
        Row(
            "Answer quality",
            (
                Panel(
                    "Mean P(correct) of answers by model",
                    "Expected accuracy of the LLM answers each model gave (npu_sim.quality: "
                    "published accuracy, the request's task and difficulty). A policy that "
                    "answers with a smaller model than the one asked for shows it here.",
                    (Query(_mean_p_correct("model"), "{{model}}"),),
                    unit="percentunit",
                    min=0,
                    max=1,
                ),
                Panel(
                    "Mean P(correct) of answers by task",
                    "The same by task family (knowledge, math, code, chat).",
                    (Query(_mean_p_correct("task"), "{{task}}"),),
                    unit="percentunit",
                    min=0,
                    max=1,
                ),
            ),
        ),
        Row(
            "Energy",
            (
                Panel(
                    "Power by tier",
                    "Electrical power drawn by all nodes of each tier, idle ones included.",
                    (Query('tier:edgetier_power_watts:sum{tier=~"$tier"}', "{{tier}}"),),
                    unit="watt",
                    width=8,
                ),
                Panel(
                    "Joules per request by tier",
                    "Energy attributed to the selected requests (compute and network) per "
                    "request served.",
                    (
                        Query(
                            "sum by (tier) "
                            f"(tier_model:edgetier_request_energy_joules:rate1m{{{SELECTED}}})"
                            f" / sum by (tier) ({REQUESTS})",
                            "{{tier}}",
                        ),
                    ),
                    unit="joule",
                    width=8,
                ),
                Panel(
                    "Joules per request by tier, idle included",
                    "All energy the tier's nodes used, idle time included, per request the tier "
                    "served: what keeping the tier on costs. Idle energy belongs to no model, so "
                    "only the tier selection applies.",
                    (
                        Query(
                            'tier:edgetier_energy_joules:rate1m{tier=~"$tier"} / sum by (tier) '
                            '(tier_model_outcome:edgetier_requests:rate1m{tier=~"$tier"})',
                            "{{tier}}",
                        ),
                    ),
                    unit="joule",
                    width=8,
                ),
            ),
        ),
    ),
)
