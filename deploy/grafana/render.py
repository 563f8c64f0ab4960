"""Turn a dashboard spec into Grafana's JSON model with grafana-foundation-sdk.

The SDK (a dev dependency) knows the JSON schema of the Grafana release it was generated for,
so the output is what that Grafana would save itself, not a guess at field names.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

from deploy.grafana import DATASOURCE_UID
from deploy.grafana.spec import Dashboard, Panel, Variable

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
REFRESH = "5s"
TIME_RANGE = ("now-15m", "now")
PanelBuilder = timeseries.Panel | stat.Panel | statetimeline.Panel


def to_json(spec: Dashboard) -> str:
    """The dashboard as Grafana JSON text: sorted keys and a final newline, so that generating
    twice gives the same bytes and a diff shows only real changes."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build(spec).build()) + "\n"


def build(spec: Dashboard) -> builders.Dashboard:
    """The SDK dashboard builder for `spec`; panel ids are assigned in reading order."""
    dashboard = (
        builders.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["edgetier", "generated"])
        .refresh(REFRESH)
        .time(*TIME_RANGE)
        .timezone(common.TimeZoneBrowser)
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .annotation(_builtin_annotations())
    )
    for variable in spec.variables:
        dashboard = dashboard.with_variable(_variable(variable))
    next_id = 1
    for row in spec.rows:
        dashboard = dashboard.with_row(builders.Row(row.title).id(next_id))
        next_id += 1
        for panel in row.panels:
            dashboard = dashboard.with_panel(_panel(panel).id(next_id))
            next_id += 1
    return dashboard


def _builtin_annotations() -> builders.AnnotationQuery:
    """Grafana's own annotation query, which every dashboard it saves carries."""
    return (
        builders.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(models.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .built_in(1)
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .type("dashboard")
    )


def _variable(variable: Variable) -> builders.QueryVariable:
    """Multi-select with "All" as `.*`, so `label=~"$name"` matches everything by default."""
    return (
        builders.QueryVariable(variable.name)
        .label(variable.label)
        .query(variable.query)
        .datasource(DATASOURCE)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(models.VariableOption(selected=True, text="All", value="$__all"))
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )


def _panel(panel: Panel) -> PanelBuilder:
    builder: PanelBuilder
    if panel.kind == "stat":
        builder = (
            stat.Panel()
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
            .graph_mode(common.BigValueGraphMode.AREA)
        )
    elif panel.kind == "state":
        builder = (
            statetimeline.Panel()
            .mappings(
                [
                    models.ValueMap(
                        options={
                            "0": models.ValueMappingResult(text="down", color="red", index=0),
                            "1": models.ValueMappingResult(text="up", color="green", index=1),
                        }
                    )
                ]
            )
            .show_value(common.VisibilityMode.NEVER)
        )
    else:
        builder = timeseries.Panel()
    builder = (
        builder.title(panel.title)
        .description(panel.description)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .span(panel.width)
        .height(panel.height)
    )
    if panel.min is not None:
        builder = builder.min(panel.min)
    if panel.max is not None:
        builder = builder.max(panel.max)
    for number, query in enumerate(panel.queries):
        builder = builder.with_target(
            prometheus.Dataquery()
            .ref_id(chr(ord("A") + number))
            .datasource(DATASOURCE)
            .expr(query.expr)
            .legend_format(query.legend)
        )
    return builder
